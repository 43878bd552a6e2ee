"""Mastodon: a hashtag timeline, mentions of the account (notifications), search."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from autoposter.config import WatchSourceConfig
from autoposter.errors import FetchError
from autoposter.watch.sources import ApiClient, Found, SourceDeps, html_to_text, parse_time

if TYPE_CHECKING:
    from autoposter.config.watch import SourceOptions

__all__ = ["MastodonSource"]


class MastodonSource:
    """One source may combine ``hashtag``, ``mentions`` and ``q``; each is one request."""

    kind: ClassVar[str] = "mastodon"

    @staticmethod
    def configure(
        options: SourceOptions,
        *,
        api_url: object = None,
        hashtag: object = None,
        mentions: object = None,
        q: object = None,
        limit: object = None,
        token: object = None,
    ) -> WatchSourceConfig:
        """At the instance ``api_url``: the ``hashtag`` timeline, ``mentions: true``
        (notifications) and a search ``q``; the last two need the account's ``token``."""
        secret = options.token(token)
        api = options.api_url(api_url)
        if api is None:
            raise options.error("api_url", "missing; the instance, e.g. https://mastodon.social")
        wanted = None
        if mentions is not None:
            wanted = "yes" if options.boolean(mentions, "mentions") else None
        if not (hashtag or q or wanted):
            raise options.error(None, "give 'hashtag', 'q' or 'mentions: true'")
        if (wanted or q) and not secret:
            raise options.error("token", "mentions and search need the account's access token")
        tag = options.text(hashtag, "hashtag", "a hashtag without #")
        return WatchSourceConfig(
            name=options.name,
            type=MastodonSource.kind,
            api_url=api,
            q=options.text(q, "q", "a search query"),
            mentions=wanted,
            hashtag=tag.lstrip("#") if tag else None,
            limit=options.limit(limit),
            token=secret,
        )

    @classmethod
    def from_config(cls, config: WatchSourceConfig, deps: SourceDeps) -> MastodonSource:
        return cls(config, deps.api)

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
