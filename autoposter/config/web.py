"""The ``web:`` section: the console's listener, its address, its sessions and its
single sign-on header."""

from __future__ import annotations

from collections.abc import Callable

from autoposter.config.fields import check_keys, show
from autoposter.config.loader import interpolate
from autoposter.config.model import (
    DEFAULT_WEB_IDLE_TIMEOUT,
    DEFAULT_WEB_LISTEN,
    DEFAULT_WEB_SESSION_LIFETIME,
    WebConfig,
)
from autoposter.config.reader import Reader
from autoposter.errors import ConfigError
from autoposter.types import Network

__all__ = ["web"]

_KEYS = (
    "listen",
    "base_url",
    "trusted_header",
    "trusted_proxies",
    "idle_timeout",
    "session_lifetime",
    "language",
)
# Header names as HTTP allows them (RFC 9110 tokens), letters, digits and dashes in practice.
_HEADER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def web(
    reader: Reader,
    value: object,
    *,
    listen: Callable[[Reader, object, str], tuple[str, int]],
    networks: Callable[[Reader, object, str], tuple[Network, ...]],
) -> WebConfig:
    """The ``web:`` block (absent: the defaults). ``listen`` and ``networks`` parse an
    address and a list of networks the way the ``http:`` block does."""
    if value is None:
        return WebConfig()
    block = reader.mapping(interpolate(value, "web", reader.environ, {}), "web", "'listen'")
    check_keys(block, "web", _KEYS)
    listen_at = listen(reader, block.get("listen", DEFAULT_WEB_LISTEN), "web.listen")
    base_url = None
    if block.get("base_url") is not None:
        base_url = reader.string(block["base_url"], "web.base_url", "an address").strip()
        if not base_url.startswith(("https://", "http://")):
            raise ConfigError(
                "web.base_url",
                f"expected an address such as https://autoposter.example.org, got {show(base_url)}",
            )
        base_url = base_url.rstrip("/")
    header = None
    if block.get("trusted_header") is not None:
        header = reader.string(block["trusted_header"], "web.trusted_header", "a header name")
        header = header.strip()
        if not set(header) <= _HEADER_CHARS:
            raise ConfigError(
                "web.trusted_header",
                f"expected a header name such as Remote-User, got {show(header)}",
            )
    proxies = networks(reader, block.get("trusted_proxies"), "web.trusted_proxies")
    if header is not None and not proxies:
        raise ConfigError(
            "web.trusted_proxies",
            "required with trusted_header: the proxies' addresses, such as [127.0.0.1/32]; "
            "anyone else could send the header",
        )
    idle = DEFAULT_WEB_IDLE_TIMEOUT
    if "idle_timeout" in block:
        idle = reader.duration(block["idle_timeout"], "web.idle_timeout", 60.0, 7 * 86400.0)
    lifetime = DEFAULT_WEB_SESSION_LIFETIME
    if "session_lifetime" in block:
        lifetime = reader.duration(
            block["session_lifetime"], "web.session_lifetime", 60.0, 30 * 86400.0
        )
    if idle > lifetime:
        raise ConfigError("web.idle_timeout", "must not be longer than web.session_lifetime")
    language = "en"
    if block.get("language") is not None:
        language = reader.language(block["language"], "web.language")
    return WebConfig(
        listen=listen_at,
        base_url=base_url,
        trusted_header=header,
        trusted_proxies=proxies,
        idle_timeout=idle,
        session_lifetime=lifetime,
        language=language,
    )
