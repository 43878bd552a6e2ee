"""The ``defaults:`` and ``feeds:`` sections: where items come from and how they are posted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from autoposter.config.delivery import approval, blackouts, quiet_hours
from autoposter.config.fields import check_keys, describe, join
from autoposter.config.model import (
    DEFAULT_BURST_LIMIT,
    DEFAULT_LANGUAGE,
    DEFAULT_MAX_BYTES,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TEMPLATE,
    DEFAULT_TIMEOUT,
    DEFAULT_WITHDRAW_WINDOW,
    MAX_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    UPDATE_ACTIONS,
    WITHDRAW_ACTIONS,
    AccountConfig,
    FeedConfig,
    Filter,
)
from autoposter.config.reader import Check, Field, Reader, duration, number
from autoposter.errors import ConfigError
from autoposter.policy import Window

__all__ = ["Settings", "defaults", "feed"]


@dataclass(frozen=True, slots=True)
class Settings:
    """The per-feed settings that ``defaults:`` may set."""

    poll_interval: float = DEFAULT_POLL_INTERVAL
    language: str = DEFAULT_LANGUAGE
    template: str = DEFAULT_TEMPLATE
    hashtags: tuple[str, ...] = ()
    burst_limit: int = DEFAULT_BURST_LIMIT
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES
    on_withdraw: str = WITHDRAW_ACTIONS[0]
    withdraw_window: float = DEFAULT_WITHDRAW_WINDOW
    on_update: str = UPDATE_ACTIONS[0]


def _one_of(choices: tuple[str, ...]) -> Check:
    def check(reader: Reader, value: object, key: str) -> str:
        if isinstance(value, str) and value in choices:
            return value
        allowed = ", ".join(repr(c) for c in choices)
        raise ConfigError(key, f"expected one of {allowed}, got {describe(value)}")

    return check


def _hashtags(reader: Reader, value: object, key: str) -> tuple[str, ...]:
    return reader.strings(value, key, "a list of hashtags", "[Ville, Culture]")


_SETTINGS = MappingProxyType(
    {
        "poll_interval": Field("poll_interval", duration(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL)),
        "language": Field("language", Reader.language),
        "template": Field("template", Reader.template),
        "hashtags": Field("hashtags", _hashtags),
        "burst_limit": Field(
            "burst_limit", number("a whole number of items, at least 1", minimum=1)
        ),
        "timeout": Field("timeout", duration(0.0, exclusive=True)),
        "max_bytes": Field("max_bytes", Reader.max_bytes),
        "on_withdraw": Field("on_withdraw", _one_of(WITHDRAW_ACTIONS)),
        "withdraw_window": Field("withdraw_window", duration(0.0, 90 * 86400.0)),
        "on_update": Field("on_update", _one_of(UPDATE_ACTIONS)),
    }
)
_FEED_KEYS = (
    "url",
    "accounts",
    *_SETTINGS,
    "include",
    "exclude",
    "enabled",
    "quiet_hours",
    "blackout",
    "approval",
    "urgent",
)
_REQUIRED = (
    ("url", "the address of the feed, e.g. url: https://www.example.org/feed"),
    ("accounts", "the accounts to post to, e.g. accounts: [ville_mastodon]"),
)


def defaults(reader: Reader, value: object) -> Settings:
    """The ``defaults:`` section."""
    block = reader.optional_mapping(value, "defaults", "settings")
    check_keys(block, "defaults", tuple(_SETTINGS))
    return reader.fields(block, "defaults", _SETTINGS, Settings())


def feed(
    reader: Reader,
    name: object,
    value: object,
    base: Settings,
    accounts: Mapping[str, AccountConfig],
) -> FeedConfig:
    """One block of ``feeds:``; its accounts must be among ``accounts``."""
    path = join("feeds", str(name))
    feed_name = reader.name(name, path, "feed")
    block = reader.mapping(value, path, "the feed's settings, at least 'url' and 'accounts'")
    check_keys(block, path, _FEED_KEYS)
    for required, what in _REQUIRED:
        if required not in block:
            raise ConfigError(join(path, required), f"missing; give {what}")
    settings = reader.fields(block, path, _SETTINGS, base)
    enabled = True
    if "enabled" in block:
        enabled = reader.boolean(block["enabled"], join(path, "enabled"))
    return FeedConfig(
        name=feed_name,
        url=reader.feed_url(block["url"], join(path, "url")),
        accounts=reader.names(block["accounts"], join(path, "accounts"), accounts),
        poll_interval=settings.poll_interval,
        template=settings.template,
        hashtags=settings.hashtags,
        language=settings.language,
        include=_filter(reader, block.get("include"), join(path, "include")),
        exclude=_filter(reader, block.get("exclude"), join(path, "exclude")),
        burst_limit=settings.burst_limit,
        timeout=settings.timeout,
        max_bytes=settings.max_bytes,
        enabled=enabled,
        window=Window(
            quiet_hours=quiet_hours(reader, block.get("quiet_hours"), join(path, "quiet_hours")),
            blackouts=blackouts(reader, block.get("blackout"), join(path, "blackout")),
        ),
        approval=approval(reader, block.get("approval"), join(path, "approval")),
        urgent=_filter(reader, block.get("urgent"), join(path, "urgent")),
        on_withdraw=settings.on_withdraw,
        withdraw_window=settings.withdraw_window,
        on_update=settings.on_update,
    )


def _filter(reader: Reader, value: object, path: str) -> Filter:
    block = reader.optional_mapping(value, path, "'categories' and/or 'keywords'")
    check_keys(block, path, ("categories", "keywords"))
    return Filter(
        categories=reader.strings(
            block.get("categories"),
            join(path, "categories"),
            "a list of categories",
            "[Culture, Sport]",
        ),
        keywords=reader.strings(
            block.get("keywords"),
            join(path, "keywords"),
            "a list of keywords",
            "[travaux, fermeture]",
        ),
    )
