"""Bluesky ``app.bsky.feed.searchPosts``: by words (``q``), ``domain`` linked, ``mentions``."""

from __future__ import annotations

from typing import Any

from autoposter.config import WatchSourceConfig
from autoposter.errors import FetchError
from autoposter.watch.sources import ApiClient, Found, parse_time

__all__ = ["BlueskySource"]

SEARCH = "/xrpc/app.bsky.feed.searchPosts"


class BlueskySource:
    def __init__(self, config: WatchSourceConfig, client: ApiClient) -> None:
        self.name = config.name
        self._config = config
        self._client = client

    def fetch(self) -> list[Found]:
        c = self._config
        params: dict[str, str | int | list[str]] = {
            # `q` is required by the API; "*" with a filter means "any post that ...".
            "q": c.q or "*",
            "sort": "latest",
            "limit": min(c.limit, 100),
        }
        if c.domain:
            params["domain"] = c.domain
        if c.mentions:
            params["mentions"] = c.mentions.lstrip("@")
        url = f"{c.api_url}{SEARCH}"
        data = self._client.get_json(
            url, params, token=c.token, timeout=c.timeout, max_bytes=c.max_bytes
        )
        posts = data.get("posts") if isinstance(data, dict) else None
        if not isinstance(posts, list):
            raise FetchError(url, "the answer has no 'posts' list")
        return [found for post in posts if (found := post_found(post)) is not None]


def post_found(post: Any) -> Found | None:
    """A post view (searchPosts, getPostThread) as a Found; None if it is not a post."""
    if not isinstance(post, dict):
        return None
    uri = post.get("uri")
    author = _dict(post.get("author"))
    record = _dict(post.get("record"))
    if not isinstance(uri, str) or not uri.startswith("at://"):
        return None
    # at://did:plc:xyz/app.bsky.feed.post/3kabc -> https://bsky.app/profile/<handle>/post/3kabc
    parts = uri[5:].split("/")
    if len(parts) != 3 or parts[1] != "app.bsky.feed.post":
        return None
    handle = author.get("handle") if isinstance(author.get("handle"), str) else parts[0]
    name = author.get("displayName")
    shown = f"{name} (@{handle})" if isinstance(name, str) and name.strip() else f"@{handle}"
    text = record.get("text")
    text = text if isinstance(text, str) else ""
    return Found(
        url=f"https://bsky.app/profile/{handle}/post/{parts[2]}",
        author=shown,
        text=text,
        published=parse_time(record.get("createdAt")) or parse_time(post.get("indexedAt")),
    )


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
