"""What the Facebook, X, LinkedIn, Telegram and webhook publishers share.

Their common options (``api_url``, ``timeout``, ``template``, ``utm``,
``language``) are checked and applied the same way here, and an item's image
is downloaded here, through the fetcher as a URL from content (the address
rule: no loopback, private or link-local address outside ``allow_networks``):
http(s) only, a timeout, a byte cap enforced while streaming, and the bytes
themselves must be a JPEG, PNG, GIF or WebP whatever the server's content type
says.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from autoposter import __version__
from autoposter.config.fields import parse_duration
from autoposter.errors import ConfigError, FetchError
from autoposter.render import safe_item, template_problem, with_utm
from autoposter.types import Item, Network, NotModified, PostSpec

USER_AGENT = f"autoposter/{__version__}"
# In the configuration's grammar, like a `timeout:` written in an account block.
DEFAULT_TIMEOUT = "20s"


class MediaError(Exception):
    """An image could not be used; the message says why (never a secret: image URLs are public)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Downloaded:
    data: bytes
    content_type: str  # sniffed from the bytes: image/jpeg, image/png, image/gif, image/webp


# -- options -------------------------------------------------------------------------------


def seconds(value: object, key: str = "timeout") -> float:
    """A positive duration of at most 10 minutes, in the configuration's grammar
    (``parse_duration``): ``"20s"``, ``"500ms"``, ``"1m"``; a bare number is refused there."""
    try:
        number = parse_duration(value, key)
    except ConfigError as e:
        raise ValueError(f"{key}: {e.message}") from None
    if not 0 < number <= 600:
        raise ValueError(f"{key}: must be more than 0 and at most 600 seconds")
    return number


def base_url(value: object, key: str = "api_url") -> str:
    """An absolute http(s) URL without its trailing slash."""
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise ValueError(f"{key}: expected an http(s) URL such as https://api.example.org")
    if not urlsplit(value).netloc:
        raise ValueError(f"{key}: the URL has no host")
    return value.rstrip("/")


def template(value: object, key: str = "template") -> str | None:
    """A post template with known ``{fields}`` only, or None (the feed's template is used)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'{key}: expected a template such as "{{title}}\\n\\n{{link}}"')
    problem = template_problem(value)
    if problem is not None:
        raise ValueError(f"{key}: {problem}")
    return value


def choice(value: object, key: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{key}: expected one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def flag(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key}: expected true or false, got {value!r}")
    return value


def secret(value: object, key: str) -> str:
    """A non-empty string; the message never shows the value."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key}: expected a non-empty string")
    return value.strip()


def prepare(
    item: Item,
    spec: PostSpec,
    *,
    account: str,
    template: str | None,
    utm: bool,
    language: str | None,
) -> tuple[Item, PostSpec, str]:
    """The item and spec as this account writes them, and the post's language.

    With ``utm`` the item's link carries the campaign tags, so the same string
    appears in the text, the card and wherever else the post names its link.
    Its texts are made safe (``render.safe_item``) for the card and alt text too.
    """
    item = safe_item(item)
    if utm:
        item = dataclasses.replace(
            item, link=with_utm(item.link, source=account, campaign=spec.feed)
        )
    if template is not None:
        spec = dataclasses.replace(spec, template=template)
    return item, spec, item.language or language or spec.language


def plain(value: Any) -> Any:
    """A read-only configuration value (MappingProxyType, tuples) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


# -- images --------------------------------------------------------------------------------


def sniff(data: bytes) -> str | None:
    """The image type the bytes really are, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def download_image(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    allowed: Sequence[str] = ("image/jpeg", "image/png", "image/gif", "image/webp"),
    allow_networks: Iterable[Network] = (),
) -> Downloaded:
    """The image at ``url``, at most ``max_bytes``; raises MediaError saying why not.

    ``url`` came from a feed: the address rule refuses non-public addresses
    outside ``allow_networks`` (and the message names the URL and the rule).
    """
    # Imported here: the writers use this module's option checks, and import no httpx.
    from autoposter.fetch import Fetcher

    if urlsplit(url).scheme not in ("http", "https"):
        raise MediaError("the image URL is not http(s)")
    with Fetcher(user_agent=USER_AGENT, allow_networks=allow_networks, per_host=1) as fetcher:
        try:
            fetched = fetcher.fetch(url, timeout=timeout, max_bytes=max_bytes, trust="content")
        except FetchError as e:
            raise MediaError(f"the image could not be downloaded: {e.message}") from e
    if isinstance(fetched, NotModified):  # never: the request was not conditional
        raise MediaError("the image answered 304 Not Modified")
    declared = fetched.headers.get("content-type", "").split(";")[0].strip().lower()
    if declared and not declared.startswith("image/"):
        raise MediaError(f"the image URL serves {declared}, not an image")
    kind = sniff(fetched.body)
    if kind is None or kind not in allowed:
        raise MediaError(f"the image is not one of {', '.join(allowed)}")
    return Downloaded(fetched.body, kind)
