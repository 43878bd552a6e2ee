"""The ``watch:`` section: named watches, their digests, and their sources.

A source block's ``type`` picks its class in ``autoposter.watch.sources.SOURCE_TYPES``;
that class checks its own options: the keyword-only parameters of its
``configure`` are the keys the block accepts besides ``type``, ``timeout`` and
``max_bytes``, which every source has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import time
from types import MappingProxyType
from urllib.parse import urlsplit

from autoposter.config.alerts import webhook
from autoposter.config.fields import DIGEST, check_keys, join, show
from autoposter.config.model import (
    DEFAULT_ALERT_MAX_PER_HOUR,
    DEFAULT_MAX_BYTES,
    DEFAULT_RETENTION,
    DEFAULT_TIMEOUT,
    DEFAULT_WATCH_POLL_INTERVAL,
    MAX_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    AccountConfig,
    SmtpConfig,
    WatchConfig,
    WatchSettings,
    WatchSourceConfig,
)
from autoposter.config.reader import Check, Field, Reader, duration, number
from autoposter.errors import ConfigError

__all__ = ["SourceOptions", "watch"]

_TOP_KEYS = ("retention", "webhook", "watches")
_COMMON_SOURCE_KEYS = ("timeout", "max_bytes")


def _digest(reader: Reader, value: object, key: str) -> tuple[str, time | None]:
    if key in reader.sexagesimal:
        raise reader.sexagesimal_error(key, value, '"daily 08:00" in quotes')
    text = reader.string(value, key, '"daily 08:00" or "hourly"').strip()
    match = DIGEST.fullmatch(text.lower())
    if match is None:
        raise ConfigError(key, f'expected "daily 08:00" or "hourly", got {show(text)}')
    hour, minute = match.groups()
    return ("hourly", None) if hour is None else ("daily", time(int(hour), int(minute)))


def _word_list(example: str) -> Check:
    def check(reader: Reader, value: object, key: str) -> tuple[str, ...]:
        return reader.strings(value, key, "a list of words", example)

    return check


# The keys of one watch besides `sources` and `recipients`, which need more than a value.
_WATCH = MappingProxyType(
    {
        "keywords": Field("keywords", _word_list("[Exempleville, mairie]")),
        "alert_keywords": Field("alert_keywords", _word_list("[incendie, pollution]")),
        "digest": Field("digest", _digest),
        "send_empty": Field("send_empty", Reader.boolean),
        "alert_max_per_hour": Field("alert_max_per_hour", number("a number of alerts", minimum=0)),
        "poll_interval": Field("poll_interval", duration(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL)),
    }
)
_WATCH_KEYS = (
    "keywords",
    "alert_keywords",
    "recipients",
    "digest",
    "send_empty",
    "alert_max_per_hour",
    "poll_interval",
    "sources",
)


def watch(
    reader: Reader,
    value: object,
    smtp: SmtpConfig | None,
    accounts: Mapping[str, AccountConfig],
) -> WatchSettings:
    """The ``watch:`` section; e-mailed digests need ``smtp``, sources may name ``accounts``."""
    path = "watch"
    block = reader.optional_mapping(value, path, "'watches', 'retention' and 'webhook'")
    check_keys(block, path, _TOP_KEYS)
    retention = DEFAULT_RETENTION
    if "retention" in block:
        retention = reader.duration(block["retention"], join(path, "retention"), 86400.0, None)
    webhook_url, webhook_secret = webhook(
        reader, block.get("webhook"), join(path, "webhook"), "alerts and digests"
    )
    watches_path = join(path, "watches")
    watches_block = reader.optional_mapping(
        block.get("watches"), watches_path, "watch names, each with its settings"
    )
    watches = {
        reader.name(name, join(watches_path, str(name)), "watch"): _one_watch(
            reader, name, item, join(watches_path, str(name)), smtp, accounts
        )
        for name, item in watches_block.items()
    }
    return WatchSettings(
        watches=MappingProxyType(watches),
        retention=retention,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
    )


def _one_watch(
    reader: Reader,
    name: str,
    value: object,
    path: str,
    smtp: SmtpConfig | None,
    accounts: Mapping[str, AccountConfig],
) -> WatchConfig:
    block = reader.mapping(value, path, "the watch's settings, at least 'sources'")
    check_keys(block, path, _WATCH_KEYS)
    if "sources" not in block:
        raise ConfigError(
            join(path, "sources"),
            "missing; give the places to look, e.g. sources: {alerts: {type: feed, url: ...}}",
        )
    sources_path = join(path, "sources")
    sources_block = reader.mapping(block["sources"], sources_path, "source names")
    if not sources_block:
        raise ConfigError(sources_path, "expected at least one source; the mapping is empty")
    sources = tuple(
        _source(
            reader,
            reader.name(source, join(sources_path, str(source)), "source"),
            item,
            join(sources_path, str(source)),
            accounts,
        )
        for source, item in sources_block.items()
    )
    recipients = reader.emails(
        block.get("recipients"), join(path, "recipients"), "[communication@example.org]"
    )
    if recipients and smtp is None:
        raise ConfigError(join(path, "recipients"), "e-mailed digests need an 'smtp:' section")
    base = WatchConfig(
        name=name,
        sources=sources,
        recipients=recipients,
        alert_max_per_hour=DEFAULT_ALERT_MAX_PER_HOUR,
        poll_interval=DEFAULT_WATCH_POLL_INTERVAL,
    )
    return reader.fields(block, path, _WATCH, base)


def _source(
    reader: Reader, name: str, value: object, path: str, accounts: Mapping[str, AccountConfig]
) -> WatchSourceConfig:
    """One source block, checked by its type's class (``configure``), which names the key
    at fault in its ConfigError."""
    # Here rather than at the top: the registry's module holds the sources' HTTP client,
    # and reading a configuration without watches has no use for httpx.
    from autoposter.watch.sources import SOURCE_TYPES, options_of, source_class

    block = reader.mapping(value, path, "the source's settings, at least 'type'")
    reader.file_secrets(block, path, ("token",))
    types = ", ".join(SOURCE_TYPES)
    if "type" not in block:
        raise ConfigError(join(path, "type"), f"missing; one of {types}")
    kind = reader.string(block["type"], join(path, "type"), f"one of {types}")
    if kind not in SOURCE_TYPES:
        raise ConfigError(join(path, "type"), f"unknown source type {show(kind)}; {types}")
    cls = source_class(kind)
    required, optional = options_of(cls)
    check_keys(block, path, ("type", *required, *optional, *_COMMON_SOURCE_KEYS))
    for key in required:
        if key not in block:
            raise ConfigError(join(path, key), f"missing; required for a {kind} source")
    own = {k: v for k, v in block.items() if k != "type" and k not in _COMMON_SOURCE_KEYS}
    config: WatchSourceConfig = cls.configure(SourceOptions(reader, name, path, accounts), **own)
    return replace(
        config,
        timeout=(
            reader.duration(block["timeout"], join(path, "timeout"), 0.0, None, exclusive=True)
            if "timeout" in block
            else DEFAULT_TIMEOUT
        ),
        max_bytes=(
            reader.max_bytes(block["max_bytes"], join(path, "max_bytes"))
            if "max_bytes" in block
            else DEFAULT_MAX_BYTES
        ),
    )


class SourceOptions:
    """What a watch source's ``configure`` checks its options with.

    Keys are the source block's own (``"token"``, ``"accounts[0]"``); every
    ConfigError names the full path (``watch.watches.ville.sources.bsky.token``).
    """

    def __init__(
        self, reader: Reader, name: str, path: str, accounts: Mapping[str, AccountConfig]
    ) -> None:
        self.name = name
        self.accounts = accounts
        self._reader = reader
        self._path = path

    def error(self, key: str | None, message: str) -> ConfigError:
        """The ConfigError for ``key`` of this block, or for the block itself (None)."""
        return ConfigError(self._path if key is None else join(self._path, key), message)

    def text(self, value: object, key: str, what: str) -> str | None:
        """A non-empty string, stripped; None when the key is absent or empty."""
        if value is None:
            return None
        return self._reader.string(value, join(self._path, key), what).strip()

    def token(self, value: object) -> str | None:
        """The ``token`` option: a secret, never quoted back."""
        token = self.text(value, "token", "an access token")
        return self._reader.secret(token) if token else token

    def api_url(self, value: object) -> str | None:
        """The ``api_url`` option: an http(s) URL without its trailing slash, or None."""
        url = self.text(value, "api_url", "an http(s) URL")
        if url is None:
            return None
        if urlsplit(url).scheme not in ("http", "https"):
            raise self.error("api_url", "expected an http(s) URL")
        return url.rstrip("/")

    def limit(self, value: object) -> int:
        """The ``limit`` option: how many posts one request asks for, 40 by default."""
        if value is None:
            return 40
        return self._reader.integer(
            value, join(self._path, "limit"), "a number from 1 to 100", minimum=1
        )

    def boolean(self, value: object, key: str) -> bool:
        return self._reader.boolean(value, join(self._path, key))

    def duration(self, value: object, key: str, minimum: float) -> float:
        return self._reader.duration(value, join(self._path, key), minimum, None)

    def feed_url(self, value: object, key: str) -> str:
        return self._reader.feed_url(value, join(self._path, key))

    def account_names(self, value: object, key: str) -> tuple[str, ...]:
        """A non-empty list of this configuration's account names."""
        return self._reader.names(value, join(self._path, key), self.accounts)
