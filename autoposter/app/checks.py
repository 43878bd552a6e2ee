"""Checking a configuration: its accounts, its database's address, its feeds.

``check`` runs before anything else on a new server, so this module imports no
storage, no pipeline and, until a feed is probed, neither the fetcher nor the
parser: reading and checking a configuration costs only what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from autoposter import publishers as registry
from autoposter.app._common import _require_feed
from autoposter.config import DEFAULT_TEMPLATE, Config, DatabaseURL
from autoposter.errors import AutoposterError, ConfigError, PluginError
from autoposter.ops import describe_expiry
from autoposter.render import names_link
from autoposter.types import AccountInfo, Item, NotModified


def database_label(config: Config) -> str:
    """The database's address with any password masked, for people to read."""
    try:
        return DatabaseURL.parse(config.database).safe
    except ValueError:
        return "(unparsable database URL)"


@dataclass(frozen=True, slots=True)
class AccountCheck:
    """What ``check --online`` learned about one account; ``text`` says it for people."""

    account: str
    ok: bool
    text: str


def describe_account(info: AccountInfo) -> tuple[str, bool]:
    """Words for an account that answered a check, and whether all is well.

    A publisher reports its token's expiry date as ``details["expires"]``
    (ISO 8601); an expired token is a failure, one expiring soon a warning.
    """
    words = [info.name]
    fine = True
    for key, value in info.details.items():
        if key == "expires" and value:
            expiry = describe_expiry(str(value))
            fine = not expiry.expired
            warn = expiry.soon and not expiry.expired
            words.append(("WARNING: token " if warn else "token ") + expiry.text)
        else:
            words.append(f"{key}={value}")
    return " ".join(words), fine


def check_links(config: Config) -> None:
    """Refuse a template that would give an account posts with no link back to the site.

    Raises ConfigError naming the template at fault (``accounts.NAME.template`` when
    the account has its own, else the feed's or the defaults'). An account whose
    writer carries the link in a field of its own (``link_outside_text``: Facebook's
    ``link``, LinkedIn's article) may leave it out of the text.
    """
    writers = {}
    for name, account in config.accounts.items():
        try:
            writers[name] = registry.writer_for(name, account.type, account.options)
        except PluginError:
            continue  # a plugin with no writer: nothing to consult
    for feed_name, feed in config.feeds.items():
        for account_name in feed.accounts:
            writer = writers.get(account_name)
            if writer is None or getattr(writer, "link_outside_text", False):
                continue
            own = getattr(writer, "template", None)
            if isinstance(own, str):
                template, path = own, f"accounts.{account_name}.template"
            elif feed.template == config.default_template and feed.template != DEFAULT_TEMPLATE:
                template, path = feed.template, "defaults.template"
            else:
                template, path = feed.template, f"feeds.{feed_name}.template"
            if not names_link(template):
                raise ConfigError(
                    path,
                    f"has no {{link}}, so the posts of feed {feed_name} on account "
                    f"{account_name} would not link back to the site; add {{link}}",
                )


def config_warnings(config: Config, today: date | None = None) -> list[str]:
    """What ``check`` warns about: settings that work today and will not for long (a
    LinkedIn version near the end of its support), one line each."""
    day = today or datetime.now(UTC).date()
    classes = registry.available({account.type for account in config.accounts.values()})
    warnings: list[str] = []
    for name, account in config.accounts.items():
        warn = getattr(classes.get(account.type), "config_warnings", None)
        if warn is not None:
            warnings.extend(warn(name, account.options, day))
    return warnings


def check_accounts(config: Config, *, online: bool) -> dict[str, AccountCheck]:
    """Build every account's publisher (raises ConfigError or PluginError naming the one at
    fault, or ConfigError for a template with no link, see ``check_links``); with
    ``online``, also ask each network whether its credentials work."""
    check_links(config)
    publishers = registry.build_all(config)
    checks: dict[str, AccountCheck] = {}
    try:
        if online:
            for name, publisher in publishers.items():
                try:
                    text, fine = describe_account(publisher.check())
                except AutoposterError as e:
                    text, fine = str(e), False
                checks[name] = AccountCheck(name, fine, text)
    finally:
        for publisher in publishers.values():
            publisher.close()
    return checks


@dataclass(frozen=True, slots=True)
class Probe:
    """A feed fetched and read now, stored nowhere; ``items`` in the document's order.
    ``not_modified``: the server answered 304 (to no validator: its own oddity)."""

    feed: str
    items: tuple[Item, ...]
    not_modified: bool = False


def probe_feed(config: Config, feed: str) -> Probe:
    """Fetch and parse one feed without validators; raises FeedError when it cannot."""
    # Imported here: an offline check loads neither httpx nor feedparser.
    from autoposter.fetch import Fetcher
    from autoposter.parse import parse_feed

    _require_feed(config, feed)
    feed_config = config.feeds[feed]
    with Fetcher(user_agent=config.user_agent, allow_networks=config.allow_networks) as fetcher:
        fetched = fetcher.fetch(
            feed_config.url, timeout=feed_config.timeout, max_bytes=feed_config.max_bytes
        )
    if isinstance(fetched, NotModified):
        return Probe(feed, (), not_modified=True)
    parsed = parse_feed(
        fetched.body,
        url=fetched.url,
        headers=fetched.headers,
        default_language=feed_config.language,
    )
    return Probe(feed, parsed.items)
