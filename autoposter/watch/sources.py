"""The seam between a watch and the places it looks, and what they share.

A source's ``fetch()`` returns what it found, newest first or in any order,
or raises ``FetchError`` (``ParseError`` for a feed that cannot be read);
``RateLimited`` when the network asked to slow down. Each source fails on
its own: the watch goes on with the others.

Source types are found by the ``type:`` of their block in ``SOURCE_TYPES``,
imported only when a watch uses them. A source class has:

- ``kind``, its ``type:``;
- ``configure(options, *, <key>=None, ...)``, a static method whose
  keyword-only parameters are the keys its block accepts (``options_of``); it
  checks them with ``config.watch.SourceOptions`` and returns the
  ``WatchSourceConfig``, or raises ConfigError naming the key;
- ``from_config(config, deps)``, the running source, given ``SourceDeps``.
"""

from __future__ import annotations

import html
import importlib
import inspect
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from autoposter import httpdate
from autoposter.errors import FetchError

if TYPE_CHECKING:
    from autoposter.config import AccountConfig
    from autoposter.fetch import Fetcher
    from autoposter.storage import Storage

__all__ = [
    "SOURCE_TYPES",
    "ApiClient",
    "Found",
    "RateLimited",
    "Source",
    "SourceDeps",
    "html_to_text",
    "options_of",
    "parse_time",
    "source_class",
]

# type: -> "module:class". Imported on first use: a feed source costs feedparser,
# and a configuration without watches has no use for any of them.
SOURCE_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "feed": "autoposter.watch.feed:FeedSource",
        "bluesky": "autoposter.watch.bluesky:BlueskySource",
        "mastodon": "autoposter.watch.mastodon:MastodonSource",
        "replies": "autoposter.watch.replies:RepliesSource",
    }
)


@dataclass(frozen=True, slots=True)
class Found:
    """One thing a source found: a link to the original, who said it, what, when."""

    url: str
    title: str = ""
    author: str | None = None
    text: str = ""
    published: datetime | None = None


class Source(Protocol):
    name: str

    def fetch(self) -> list[Found]: ...


@dataclass(frozen=True, slots=True)
class SourceDeps:
    """What a running source may use; each takes the parts it needs."""

    fetcher: Fetcher
    api: ApiClient
    storage: Storage
    accounts: Mapping[str, AccountConfig]


def source_class(kind: str) -> Any:
    """The source class registered for ``kind`` (a key of ``SOURCE_TYPES``)."""
    module, _, name = SOURCE_TYPES[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def options_of(cls: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) keys a source class's block accepts besides ``type``,
    ``timeout`` and ``max_bytes``, in the order its ``configure`` declares them."""
    required: list[str] = []
    optional: list[str] = []
    for param in inspect.signature(cls.configure).parameters.values():
        if param.kind is inspect.Parameter.KEYWORD_ONLY:
            (required if param.default is inspect.Parameter.empty else optional).append(param.name)
    return tuple(required), tuple(optional)


class RateLimited(FetchError):
    """HTTP 429: try again after ``retry_after`` seconds (None when the server did not say)."""

    def __init__(self, url: str, message: str, *, retry_after: float | None) -> None:
        self.retry_after = retry_after
        super().__init__(url, message, status=429)


class ApiClient:
    """JSON GETs to social network APIs, with a timeout over the whole call and a size cap.

    Redirects are not followed: an API answering with one is misconfigured.
    Tokens go in the Authorization header and never in an error message.
    """

    def __init__(self, *, user_agent: str) -> None:
        self._client = httpx.Client(
            follow_redirects=False,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
        )

    def close(self) -> None:
        self._client.close()

    def get_json(
        self,
        url: str,
        params: Mapping[str, str | int | list[str]],
        *,
        token: str | None,
        timeout: float,
        max_bytes: int,
    ) -> Any:
        return self._call("GET", url, timeout, max_bytes, token=token, params=dict(params))

    def post_json(
        self, url: str, body: Mapping[str, Any], *, timeout: float, max_bytes: int
    ) -> Any:
        """POST ``body`` as JSON (a login: the body holds a password, never shown)."""
        return self._call("POST", url, timeout, max_bytes, json=dict(body))

    def _call(
        self,
        method: str,
        url: str,
        timeout: float,
        max_bytes: int,
        *,
        token: str | None = None,
        **request: Any,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        deadline = time.monotonic() + timeout
        try:
            with self._client.stream(
                method, url, headers=headers, timeout=timeout, **request
            ) as response:
                if response.status_code == 429:
                    raise RateLimited(
                        url, "HTTP 429 Too Many Requests", retry_after=_retry_after(response)
                    )
                if response.status_code != 200:
                    raise FetchError(
                        url,
                        f"HTTP {response.status_code}{_xrpc_error(response)}",
                        status=response.status_code,
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError(url, f"larger than {max_bytes} bytes limit")
                    if time.monotonic() > deadline:
                        raise FetchError(url, f"timed out after {timeout:g}s")
                    chunks.append(chunk)
        except httpx.TimeoutException as e:
            raise FetchError(url, f"timed out after {timeout:g}s") from e
        except httpx.HTTPError as e:
            raise FetchError(url, f"{type(e).__name__}") from e
        try:
            return json.loads(b"".join(chunks))
        except ValueError as e:
            raise FetchError(url, "the answer is not JSON") from e


def _xrpc_error(response: httpx.Response) -> str:
    """`` (ExpiredToken)``: the error name of an XRPC error answer, read within a small cap.

    Only the name, a fixed identifier: the message may echo what was sent."""
    if "json" not in response.headers.get("content-type", ""):
        return ""
    raw = b""
    for chunk in response.iter_bytes():
        raw += chunk
        if len(raw) > 4096:
            return ""
    try:
        name = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        return ""
    return f" ({name})" if isinstance(name, str) and name.isidentifier() else ""


def _retry_after(response: httpx.Response) -> float | None:
    wait = httpdate.retry_after(response.headers.get("retry-after"))
    if wait is not None:
        return wait
    # Bluesky says when its window resets, as a Unix time.
    reset = response.headers.get("ratelimit-reset", "").strip()
    if reset.isdigit():
        return max(0.0, float(reset) - time.time())
    return None


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p") and self.parts:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Plain text of a post's HTML (Mastodon ``content``), whitespace folded."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    lines = ("".join(parser.parts)).split("\n")
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time from an API as aware UTC, else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def unescape(text: str) -> str:
    return html.unescape(text)
