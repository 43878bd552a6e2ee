"""Replies under the institution's own recent posts: the questions citizens ask there.

Reads what autoposter itself published (sent deliveries of the configured
accounts, from storage), then each post's thread: Bluesky
``app.bsky.feed.getPostThread`` (public AppView), Mastodon
``/api/v1/statuses/:id/context`` (the account's own instance and token).
The account's own answers in the thread are left out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from autoposter.config import AccountConfig, WatchSourceConfig
from autoposter.watch.bluesky import PUBLIC_APPVIEW, post_found
from autoposter.watch.mastodon import statuses_found
from autoposter.watch.sources import ApiClient, Found, SourceDeps

if TYPE_CHECKING:
    from autoposter.config.watch import SourceOptions
    from autoposter.storage import PostedRecord, Storage

__all__ = ["RepliesSource"]

THREAD = "/xrpc/app.bsky.feed.getPostThread"
MAX_DEPTH = 6
MAX_POSTS = 20  # posts looked at per account and poll: bounded work, bounded API use


class RepliesSource:
    kind: ClassVar[str] = "replies"

    @staticmethod
    def configure(
        options: SourceOptions,
        *,
        accounts: object = None,
        within: object = None,
        api_url: object = None,
        limit: object = None,
    ) -> WatchSourceConfig:
        """The replies under what the bluesky and mastodon ``accounts`` posted ``within``
        that long (7 days by default, at least 1 hour)."""
        api = options.api_url(api_url)
        replied = options.account_names(accounts, "accounts")
        for index, name in enumerate(replied):
            kind = options.accounts[name].type
            if kind not in ("bluesky", "mastodon"):
                raise options.error(
                    f"accounts[{index}]",
                    f"replies are read from bluesky and mastodon accounts; "
                    f"'{name}' is a {kind} account",
                )
        return WatchSourceConfig(
            name=options.name,
            type=RepliesSource.kind,
            api_url=api or PUBLIC_APPVIEW,
            limit=options.limit(limit),
            accounts=replied,
            within=(
                options.duration(within, "within", 3600.0) if within is not None else 7 * 86400.0
            ),
        )

    @classmethod
    def from_config(cls, config: WatchSourceConfig, deps: SourceDeps) -> RepliesSource:
        return cls(config, deps.api, deps.storage, deps.accounts)

    def __init__(
        self,
        config: WatchSourceConfig,
        client: ApiClient,
        storage: Storage,
        accounts: Mapping[str, AccountConfig],
    ) -> None:
        self.name = config.name
        self._config = config
        self._client = client
        self._storage = storage
        self._accounts = accounts

    def fetch(self) -> list[Found]:
        since = datetime.now(UTC) - timedelta(seconds=self._config.within)
        posted = [p for p in self._storage.posted(since) if p.remote_id]
        found: list[Found] = []
        for name in self._config.accounts:
            account = self._accounts.get(name)
            if account is None:
                continue
            mine = [p for p in posted if p.account == name][-MAX_POSTS:]
            for record in mine:
                if account.type == "bluesky":
                    found += self._bluesky(record)
                elif account.type == "mastodon":
                    found += self._mastodon(account, record)
        return found

    def _get(self, url: str, params: dict[str, str | int | list[str]], token: str | None) -> Any:
        c = self._config
        return self._client.get_json(
            url, params, token=token, timeout=c.timeout, max_bytes=c.max_bytes
        )

    def _bluesky(self, record: PostedRecord) -> list[Found]:
        assert record.remote_id is not None
        url = f"{self._config.api_url}{THREAD}"
        data = self._get(url, {"uri": record.remote_id, "depth": MAX_DEPTH}, None)
        thread = data.get("thread") if isinstance(data, dict) else None
        if not isinstance(thread, dict):
            return []
        root = thread.get("post") if isinstance(thread.get("post"), dict) else {}
        own = (root.get("author") or {}).get("did") if isinstance(root, dict) else None
        found = []
        for post in _bluesky_replies(thread, 0):
            author = post.get("author")
            if own and isinstance(author, dict) and author.get("did") == own:
                continue
            reply = post_found(post)
            if reply is not None:
                found.append(_titled(reply, record))
        return found

    def _mastodon(self, account: AccountConfig, record: PostedRecord) -> list[Found]:
        assert record.remote_id is not None
        api = str(account.options.get("api_url", "")).rstrip("/")
        token = account.options.get("access_token")
        token = token if isinstance(token, str) else None
        status_id = quote(record.remote_id, safe="")
        root = self._get(f"{api}/api/v1/statuses/{status_id}", {}, token)
        own = (root.get("account") or {}).get("id") if isinstance(root, dict) else None
        url = f"{api}/api/v1/statuses/{status_id}/context"
        data = self._get(url, {}, token)
        descendants = data.get("descendants") if isinstance(data, dict) else None
        if not isinstance(descendants, list):
            return []
        others = [
            s
            for s in descendants
            if isinstance(s, dict) and not (own and (s.get("account") or {}).get("id") == own)
        ]
        return [_titled(reply, record) for reply in statuses_found(others, url)]


def _bluesky_replies(node: dict[str, Any], depth: int) -> Iterator[dict[str, Any]]:
    if depth >= MAX_DEPTH:
        return
    for child in node.get("replies") or ():
        if not isinstance(child, dict) or not isinstance(child.get("post"), dict):
            continue  # notFoundPost, blockedPost
        yield child["post"]
        yield from _bluesky_replies(child, depth + 1)


def _titled(found: Found, record: PostedRecord) -> Found:
    return Found(
        url=found.url,
        title=f"Reply to: {record.title}",
        author=found.author,
        text=found.text,
        published=found.published,
    )
