"""The whole file: its top-level keys, in the order that keeps secrets out of messages,
and what running as a service needs (the ``http:`` listener, which secrets the file
itself holds)."""

from __future__ import annotations

import ipaddress
import os
import zoneinfo
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from autoposter.config import accounts, alerts, delivery, feeds, watch, web
from autoposter.config.database import DatabaseURL
from autoposter.config.fields import check_keys, index, show
from autoposter.config.loader import file_only_value, holds_secrets, interpolate, string_leaves
from autoposter.config.model import (
    DEFAULT_DATABASE,
    DEFAULT_DISPATCH_INTERVAL,
    DEFAULT_HTTP_LISTEN,
    DEFAULT_TIMEZONE,
    MIN_DISPATCH_INTERVAL,
    Config,
)
from autoposter.config.reader import Reader
from autoposter.errors import ConfigError
from autoposter.types import Network

__all__ = ["parse_document"]

_TOP_KEYS = (
    "database",
    "database_file",
    "timezone",
    "dispatch_interval",
    "user_agent",
    "defaults",
    "accounts",
    "feeds",
    "delivery",
    "smtp",
    "alerts",
    "http",
    "watch",
    "web",
)
# The sections whose secret-looking keys are noted before any value is checked.
_SECRET_SECTIONS = ("accounts", "smtp", "alerts", "watch")


def parse_document(reader: Reader, data: object, path: Path | None) -> Config:
    """Check the YAML document ``data`` of the file at ``path``; every ConfigError
    raised has the file's secrets taken out of its message."""
    try:
        return _service(reader, _config(reader, data, path), data)
    except ConfigError as e:
        raise reader.redacted(e) from None
    except RecursionError:
        raise ConfigError(
            "", "the configuration nests too deeply, or a YAML anchor refers to itself"
        ) from None


def _config(reader: Reader, data: object, path: Path | None) -> Config:
    if data is None:
        data = {}
    top = reader.mapping(data, "", "settings (key: value lines)")
    check_keys(top, "", _TOP_KEYS)
    top = interpolate(top, "", reader.environ, {}, reader.deferred)

    # The sections holding secrets come first, and inline secrets are known before
    # any value is checked, so that a message quoting a value (a time zone, a URL)
    # can be redacted.
    database = _database(reader, top)
    for section in _SECRET_SECTIONS:
        reader.collect_secrets(top.get(section), None)
    timezone = reader.timezone(top.get("timezone", DEFAULT_TIMEZONE), "timezone")
    reader.tz = zoneinfo.ZoneInfo(timezone)
    policy, reconcile_after = delivery.delivery(reader, top.get("delivery"))
    smtp = alerts.smtp(reader, top.get("smtp"))
    operators = alerts.alerts(reader, top.get("alerts"), smtp)
    accounts_block = reader.optional_mapping(
        top.get("accounts"), "accounts", "account names, each with its settings"
    )
    account_configs = {
        name: accounts.account(reader, name, block, policy)
        for name, block in accounts_block.items()
    }

    dispatch_interval = DEFAULT_DISPATCH_INTERVAL
    if "dispatch_interval" in top:
        dispatch_interval = reader.duration(
            top["dispatch_interval"], "dispatch_interval", MIN_DISPATCH_INTERVAL, None
        )
    user_agent = None
    if top.get("user_agent") is not None:
        user_agent = reader.string(top["user_agent"], "user_agent", "a User-Agent string")

    defaults = feeds.defaults(reader, top.get("defaults"))
    feeds_block = reader.optional_mapping(
        top.get("feeds"), "feeds", "feed names, each with its settings"
    )
    feed_configs = {
        name: feeds.feed(reader, name, block, defaults, account_configs)
        for name, block in feeds_block.items()
    }

    return Config(
        path=path,
        database=database,
        timezone=timezone,
        dispatch_interval=dispatch_interval,
        user_agent=user_agent,
        accounts=MappingProxyType(account_configs),
        feeds=MappingProxyType(feed_configs),
        secrets=frozenset(reader.secrets),
        default_template=defaults.template,
        default_language=defaults.language,
        delivery=policy,
        reconcile_after=reconcile_after,
        smtp=smtp,
        alerts=operators,
        watch=watch.watch(reader, top.get("watch"), smtp, account_configs),
    )


def _database(reader: Reader, top: dict[str, Any]) -> str:
    key = "database"
    if "database_file" in top:
        if "database" in top:
            raise ConfigError(
                "database_file", "give either 'database' or 'database_file', not both"
            )
        key = "database_file"
        url = reader.secret_file(top["database_file"], key)
    else:
        url = top.get("database", DEFAULT_DATABASE)
    expected = (
        "a database URL such as sqlite:///autoposter.db "
        "or postgresql+psycopg://user:password@host/autoposter"
    )
    url = reader.string(url, key, expected).strip()
    try:
        parsed = DatabaseURL.parse(url)
    except ValueError:
        # The URL is not quoted back: it may hold a password.
        raise ConfigError(key, f"expected {expected}") from None
    if parsed.password:
        reader.secret(parsed.password)
    database = parsed.database
    if (
        not parsed.is_sqlite
        or not database
        or database == ":memory:"
        or database.startswith("file:")
        or Path(database).is_absolute()
    ):
        return url
    # The daemon's working directory is wherever systemd or the shell left
    # it; the config file's directory is the one place the user can see.
    head, separator, query = url.partition("?")
    prefix_end = head.index(":///") + 4
    absolute = os.path.normpath(reader.base_dir / head[prefix_end:])
    return f"{head[:prefix_end]}{absolute}{separator}{query}"


def _service(reader: Reader, config: Config, raw: object) -> Config:
    """Add what running as a service needs: the ``http:`` block (the listener, the
    non-public networks content may reach), the ``web:`` console, and which secrets
    the file itself holds (its permissions then matter)."""
    top = raw if isinstance(raw, dict) else {}
    http_listen = None
    networks: tuple[Network, ...] = ()
    if top.get("http") is not None:
        block = reader.mapping(
            interpolate(top["http"], "http", reader.environ, {}), "http", "'listen'"
        )
        check_keys(block, "http", ("listen", "allow_networks"))
        # A block that only names networks does not turn the listener on.
        if "listen" in block or "allow_networks" not in block:
            http_listen = _listen(reader, block.get("listen", DEFAULT_HTTP_LISTEN), "http.listen")
        networks = _networks(reader, block.get("allow_networks"), "http.allow_networks")
    inline = _written_in_file(top) & reader.secrets
    return replace(
        config,
        http_listen=http_listen,
        allow_networks=networks,
        inline_secrets=frozenset(inline),
        secret_files=tuple(reader.secret_files),
        web=web.web(reader, top.get("web"), listen=_listen, networks=_networks),
        deferred_secrets=tuple(reader.deferred or ()),
    )


def _written_in_file(top: dict[str, Any]) -> set[str]:
    """The values that secret-looking keys take from the file alone, and the password of
    the database URL so written: a secret counts as written in the file only when one of
    them equals it. A value met elsewhere (a comment, another key, a URL) does not count,
    nor does a ``${VAR}`` without a default, nor a ``*_file`` path."""
    written: set[str] = set()
    for key, text in string_leaves(top, None):
        if not holds_secrets(key) or key is None or key.endswith("_file"):
            continue
        value = file_only_value(text)
        if value is None:
            continue
        if key == "database":
            try:
                value = DatabaseURL.parse(value.strip()).password
            except ValueError:
                continue
        if value:
            written.add(value)
    return written


def _networks(reader: Reader, value: object, key: str) -> tuple[Network, ...]:
    found: list[Network] = []
    for i, text in enumerate(reader.strings(value, key, "networks", "[10.20.0.0/16]")):
        try:
            found.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                index(key, i), f"expected a network such as 10.20.0.0/16, got {text!r}"
            ) from None
    return tuple(found)


def _listen(reader: Reader, value: object, key: str) -> tuple[str, int]:
    expected = "an address and port such as 127.0.0.1:8787, [::1]:8787 or 0.0.0.0:8787"
    if isinstance(value, int) and not isinstance(value, bool):
        host, port = "127.0.0.1", str(value)  # a bare port listens on this machine only
    else:
        text = reader.string(value, key, expected).strip()
        host, colon, port = text.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        elif ":" in host:
            raise ConfigError(key, "write an IPv6 address in brackets, e.g. [::1]:8787")
        if not colon or not host:
            raise ConfigError(key, f"expected {expected}, got {show(text)}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(key, f"the port must be a number from 1 to 65535, got {show(port)}")
    return host, int(port)
