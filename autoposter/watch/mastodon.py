"""Mastodon: a hashtag timeline, mentions of the account (notifications), search."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from autoposter.config import WatchSourceConfig
from autoposter.errors import FetchError
from autoposter.watch.sources import ApiClient, Found, html_to_text, parse_time

__all__ = ["MastodonSource"]


class MastodonSource:
    """One source may combine ``hashtag``, ``mentions`` and ``q``; each is one request."""

    def __init__(self, config: WatchSourceConfig, client: ApiClient) -> None:
        self.name = config.name
        self._config = config
        self._client = client

    def fetch(self) -> list[Found]:
        c = self._config
        limit = min(c.limit, 40)
        found: list[Found] = []
        if c.hashtag:
            url = f"{c.api_url}/api/v1/timelines/tag/{quote(c.hashtag, safe='')}"
            found += statuses_found(self._get(url, {"limit": limit}), url)
        if c.mentions:
            url = f"{c.api_url}/api/v1/notifications"
            data = self._get(url, {"types[]": ["mention"], "limit": limit})
            if not isinstance(data, list):
                raise FetchError(url, "the answer is not a list of notifications")
            statuses = [
                n.get("status") for n in data if isinstance(n, dict) and n.get("type") == "mention"
            ]
            found += statuses_found(statuses, url)
        if c.q:
            url = f"{c.api_url}/api/v2/search"
            data = self._get(url, {"q": c.q, "type": "statuses", "limit": limit})
            searched = data.get("statuses") if isinstance(data, dict) else None
            found += statuses_found(searched, url)
        return found

    def _get(self, url: str, params: dict[str, str | int | list[str]]) -> Any:
        c = self._config
        return self._client.get_json(
            url, params, token=c.token, timeout=c.timeout, max_bytes=c.max_bytes
        )


def statuses_found(data: Any, url: str) -> list[Found]:
    """Mastodon status objects as Founds; FetchError if ``data`` is not a list."""
    if not isinstance(data, list):
        raise FetchError(url, "the answer is not a list of statuses")
    found = []
    for status in data:
        if not isinstance(status, dict):
            continue
        link = status.get("url") or status.get("uri")
        if not isinstance(link, str) or not link.startswith(("https://", "http://")):
            continue
        account_value = status.get("account")
        account: dict[str, Any] = account_value if isinstance(account_value, dict) else {}
        acct = account.get("acct") if isinstance(account.get("acct"), str) else "?"
        name = account.get("display_name")
        shown = f"{name} (@{acct})" if isinstance(name, str) and name.strip() else f"@{acct}"
        content = status.get("content")
        content = content if isinstance(content, str) else ""
        found.append(
            Found(
                url=link,
                author=shown,
                text=html_to_text(content),
                published=parse_time(status.get("created_at")),
            )
        )
    return found
