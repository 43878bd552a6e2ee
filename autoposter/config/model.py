"""The validated configuration as frozen dataclasses, and the defaults they start from.

Durations are seconds, sizes bytes. Every mapping is read-only
(MappingProxyType) and every list a tuple, so a configuration can be shared
between threads and compared after a reload.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

from autoposter.policy import DEFAULT_RECONCILE_AFTER, DeliveryPolicy, Window
from autoposter.types import Network

DEFAULT_TEMPLATE = "{title}\n\n{link}"
DEFAULT_DATABASE = "sqlite:///autoposter.db"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_DISPATCH_INTERVAL = 30.0
DEFAULT_POLL_INTERVAL = 300.0
DEFAULT_LANGUAGE = "en"
DEFAULT_BURST_LIMIT = 5
DEFAULT_TIMEOUT = 20.0
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
#: What a feed does when an item it posted is withdrawn at the source (``on_withdraw``):
#: the first is the default.
WITHDRAW_ACTIONS = ("alert", "retract", "ignore")
#: What a feed does when an item it posted is corrected at the source (``on_update``):
#: the first is the default.
UPDATE_ACTIONS = ("alert", "edit", "ignore")
DEFAULT_WITHDRAW_WINDOW = 7 * 86400.0
CONFIG_FILE_NAME = "autoposter.yaml"
CONFIG_ENV_VAR = "AUTOPOSTER_CONFIG"
# The health and metrics listener, when the `http:` block is present.
DEFAULT_HTTP_LISTEN = "127.0.0.1:8787"
# The web console (`autoposter web`): on this machine only unless told otherwise.
DEFAULT_WEB_LISTEN = "127.0.0.1:8788"
DEFAULT_WEB_IDLE_TIMEOUT = 3600.0
DEFAULT_WEB_SESSION_LIFETIME = 12 * 3600.0

MIN_POLL_INTERVAL = 10.0
MAX_POLL_INTERVAL = 86400.0
MIN_DISPATCH_INTERVAL = 1.0
# A key whose value is a secret: redacted in reprs, logs and error messages.
SECRET_KEY = re.compile(r"token|password|secret|_key$|^key$", re.IGNORECASE)
DEFAULT_RETENTION = 90 * 86400.0
DEFAULT_WATCH_POLL_INTERVAL = 900.0
DEFAULT_ALERT_MAX_PER_HOUR = 3


@dataclass(frozen=True, slots=True)
class Filter:
    """Categories and keywords an item is matched against; empty means "no rule"."""

    categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not self.categories and not self.keywords


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One social account: its publisher ``type`` and the rest of its block as ``options``.

    ``options`` is read-only all the way down (lists become tuples), with
    ``*_file`` secrets already read into their key and ``${VAR}`` resolved.
    """

    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)

    def __repr__(self) -> str:
        # A config printed while debugging must not show the tokens in it.
        shown = {
            key: "[redacted]" if SECRET_KEY.search(key) else value
            for key, value in self.options.items()
        }
        return f"AccountConfig(name={self.name!r}, type={self.type!r}, options={shown!r})"


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """One feed and how its items are posted; durations in seconds, sizes in bytes.

    ``url`` is http(s), or an absolute ``file:///`` URL (the offline demo).
    """

    name: str
    url: str
    accounts: tuple[str, ...]
    poll_interval: float = DEFAULT_POLL_INTERVAL
    template: str = DEFAULT_TEMPLATE
    hashtags: tuple[str, ...] = ()
    language: str = DEFAULT_LANGUAGE
    include: Filter = Filter()
    exclude: Filter = Filter()
    burst_limit: int = DEFAULT_BURST_LIMIT
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES
    enabled: bool = True
    window: Window = field(default_factory=Window)
    approval: bool = False
    urgent: Filter = Filter()
    # Withdrawn at the source: ``on_withdraw`` is alert | retract | ignore; pages are
    # checked for items posted within ``withdraw_window``.
    on_withdraw: str = WITHDRAW_ACTIONS[0]
    withdraw_window: float = DEFAULT_WITHDRAW_WINDOW
    # Corrected at the source (title or summary, within ``withdraw_window``):
    # ``on_update`` is alert | edit | ignore.
    on_update: str = UPDATE_ACTIONS[0]


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """How to send e-mail: alerts now, digests later."""

    host: str
    sender: str
    port: int = 587
    security: str = "starttls"  # starttls | tls | none
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 20.0


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """Where operators are told that something needs them."""

    email: tuple[str, ...] = ()
    webhook_url: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    feed_failing_after: float = 86400.0
    # Deliveries held (approval, burst guard) for longer than this are told, once.
    approval_waiting_after: float = 4 * 3600.0


@dataclass(frozen=True, slots=True)
class WatchSourceConfig:
    """One place a watch looks: ``type`` is feed, bluesky, mastodon or replies.

    ``feed``: ``url`` (RSS/Atom, e.g. a Google Alert delivered as RSS).
    ``bluesky``: ``app.bsky.feed.searchPosts`` at ``api_url`` with ``q``,
    ``domain`` and/or ``mentions``; logged in as the bluesky account in
    ``accounts`` when the block names one (``account:``), at its PDS.
    ``mastodon``: at ``api_url``, the ``hashtag`` timeline, ``mentions``
    (notifications, needs ``token``) or a search ``q`` (needs ``token``).
    ``replies``: the replies under what the ``accounts`` (bluesky or mastodon
    ones) posted ``within`` that many seconds.
    """

    name: str
    type: str
    url: str | None = None
    api_url: str | None = None
    q: str | None = None
    domain: str | None = None
    mentions: str | None = None
    hashtag: str | None = None
    limit: int = 40
    token: str | None = field(default=None, repr=False)
    accounts: tuple[str, ...] = ()
    within: float = 7 * 86400.0
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """One named watch: where to look, what to highlight, whom to tell.

    ``digest`` is ``("daily", time)`` or ``("hourly", None)``, in the
    configuration's time zone.
    """

    name: str
    sources: tuple[WatchSourceConfig, ...]
    keywords: tuple[str, ...] = ()
    alert_keywords: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    digest: tuple[str, time | None] = ("daily", time(8, 0))
    send_empty: bool = False
    alert_max_per_hour: int = DEFAULT_ALERT_MAX_PER_HOUR
    poll_interval: float = DEFAULT_WATCH_POLL_INTERVAL


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """The ``watch:`` section: the watches, how long personal data is kept, a webhook."""

    watches: Mapping[str, WatchConfig] = field(default_factory=lambda: MappingProxyType({}))
    retention: float = DEFAULT_RETENTION
    webhook_url: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The ``web:`` section: where the console listens and how it trusts its visitors.

    ``base_url``: the address people type (https there makes the session cookie
    Secure). ``trusted_header``: a header naming the user, set by a reverse proxy
    that did the login, believed only from ``trusted_proxies``. Timeouts in seconds.
    """

    listen: tuple[str, int] = ("127.0.0.1", 8788)
    base_url: str | None = None
    trusted_header: str | None = None
    trusted_proxies: tuple[Network, ...] = ()
    idle_timeout: float = DEFAULT_WEB_IDLE_TIMEOUT
    session_lifetime: float = DEFAULT_WEB_SESSION_LIFETIME
    language: str = "en"

    @property
    def secure_cookies(self) -> bool:
        return (self.base_url or "").startswith("https://")


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration.

    ``secrets`` holds every secret value met in the file, so logs can redact
    them. ``default_template`` and ``default_language`` are the ``defaults:``
    block's values, for items whose feed has since left the configuration.
    """

    path: Path | None = None
    database: str = DEFAULT_DATABASE
    timezone: str = DEFAULT_TIMEZONE
    dispatch_interval: float = DEFAULT_DISPATCH_INTERVAL
    user_agent: str | None = None
    accounts: Mapping[str, AccountConfig] = field(default_factory=lambda: MappingProxyType({}))
    feeds: Mapping[str, FeedConfig] = field(default_factory=lambda: MappingProxyType({}))
    secrets: frozenset[str] = field(default=frozenset(), repr=False)
    default_template: str = DEFAULT_TEMPLATE
    default_language: str = DEFAULT_LANGUAGE
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    reconcile_after: float = DEFAULT_RECONCILE_AFTER
    smtp: SmtpConfig | None = None
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    # Running it as a service: the health/metrics listener (host, port), off when None;
    # the secrets written in the file itself (not read from a `_file` or the environment),
    # and the `_file` secret files read.
    http_listen: tuple[str, int] | None = None
    # Non-public networks that redirects and URLs from feed content may reach (fetch.py).
    allow_networks: tuple[Network, ...] = ()
    inline_secrets: frozenset[str] = field(default=frozenset(), repr=False)
    secret_files: tuple[Path, ...] = ()
    # Key paths of secrets left out because their ${VAR} is unset (read-only use only).
    deferred_secrets: tuple[str, ...] = ()
    watch: WatchSettings = field(default_factory=WatchSettings)
    web: WebConfig = field(default_factory=WebConfig)

    def policy(self, account: str) -> DeliveryPolicy:
        """The account's delivery rules; the defaults for an account no longer configured."""
        found = self.accounts.get(account)
        return found.policy if found is not None else self.delivery

    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)
