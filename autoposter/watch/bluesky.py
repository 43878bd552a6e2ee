"""Bluesky ``app.bsky.feed.searchPosts``: by words (``q``), ``domain`` linked, ``mentions``.

Bluesky has often refused anonymous searches on its public AppView (HTTP 403
``AuthMissing``) since 2025. With ``account:`` the source logs in as one of
the configuration's bluesky accounts (``com.atproto.server.createSession``
with its app password) and searches through that account's PDS, which
forwards the query to the AppView; the session is made again when it expires.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from autoposter.config import AccountConfig, WatchSourceConfig
from autoposter.config.fields import show
from autoposter.errors import FetchError
from autoposter.watch.sources import ApiClient, Found, SourceDeps, parse_time

if TYPE_CHECKING:
    from autoposter.config.watch import SourceOptions

__all__ = ["BlueskySource"]

SEARCH = "/xrpc/app.bsky.feed.searchPosts"
LOGIN = "/xrpc/com.atproto.server.createSession"
# What an expired or revoked session answers: log in again, once.
_SESSION_ENDED = (400, 401)


PUBLIC_APPVIEW = "https://public.api.bsky.app"
DEFAULT_PDS = "https://bsky.social"


class BlueskySource:
    kind: ClassVar[str] = "bluesky"

    @staticmethod
    def configure(
        options: SourceOptions,
        *,
        account: object = None,
        api_url: object = None,
        q: object = None,
        domain: object = None,
        mentions: object = None,
        limit: object = None,
        token: object = None,
    ) -> WatchSourceConfig:
        """Posts with the words ``q``, linking to ``domain`` and/or mentioning the handle
        ``mentions``; logged in as the configuration's bluesky ``account``, at its PDS."""
        secret = options.token(token)
        api = options.api_url(api_url)
        handle = options.text(mentions, "mentions", "a Bluesky handle")
        if not any((q, domain, mentions)):
            raise options.error(None, "give at least one of 'q', 'domain' or 'mentions'")
        login: tuple[str, ...] = ()
        if account is not None:
            # Search logged in, as that account: Bluesky often refuses anonymous search.
            name = options.text(account, "account", "an account name") or ""
            found = options.accounts.get(name)
            if found is None or found.type != "bluesky":
                known = ", ".join(n for n, a in options.accounts.items() if a.type == "bluesky")
                raise options.error(
                    "account",
                    f"{show(name)} is not a bluesky account of this configuration"
                    f" (bluesky accounts: {known or 'none'})",
                )
            if secret:
                raise options.error("token", "give either 'account' or 'token', not both")
            login = (name,)
            api = api or str(found.options.get("api_url") or DEFAULT_PDS).rstrip("/")
        return WatchSourceConfig(
            name=options.name,
            type=BlueskySource.kind,
            api_url=api or PUBLIC_APPVIEW,
            q=options.text(q, "q", "a search query"),
            domain=options.text(domain, "domain", "a domain such as exempleville.fr"),
            mentions=handle,
            limit=options.limit(limit),
            token=secret,
            accounts=login,
        )

    @classmethod
    def from_config(cls, config: WatchSourceConfig, deps: SourceDeps) -> BlueskySource:
        return cls(config, deps.api, deps.accounts)

    def __init__(
        self,
        config: WatchSourceConfig,
        client: ApiClient,
        accounts: Mapping[str, AccountConfig] | None = None,
    ) -> None:
        self.name = config.name
        self._config = config
        self._client = client
        self._login: tuple[str, str] | None = None
        if config.accounts and accounts is not None:
            options = accounts[config.accounts[0]].options
            self._login = (str(options["handle"]), str(options["app_password"]))
        self._session: str | None = None

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
        data = self._search(url, params)
        posts = data.get("posts") if isinstance(data, dict) else None
        if not isinstance(posts, list):
            raise FetchError(url, "the answer has no 'posts' list")
        return [found for post in posts if (found := post_found(post)) is not None]

    def _search(self, url: str, params: dict[str, str | int | list[str]]) -> Any:
        c = self._config
        if self._login is None:
            try:
                return self._client.get_json(
                    url, params, token=c.token, timeout=c.timeout, max_bytes=c.max_bytes
                )
            except FetchError as e:
                if e.status == 403 and not c.token:
                    raise FetchError(
                        url,
                        f"{e.message}: Bluesky refused an anonymous search; give this source "
                        "'account:', a bluesky account of the configuration, to search logged in",
                        status=403,
                    ) from e
                raise
        if self._session is None:
            self._session = self._new_session()
        try:
            return self._logged_in_get(url, params)
        except FetchError as e:
            if e.status not in _SESSION_ENDED:
                raise
        self._session = self._new_session()  # expired or revoked: once more, anew
        return self._logged_in_get(url, params)

    def _logged_in_get(self, url: str, params: dict[str, str | int | list[str]]) -> Any:
        c = self._config
        return self._client.get_json(
            url, params, token=self._session, timeout=c.timeout, max_bytes=c.max_bytes
        )

    def _new_session(self) -> str:
        c = self._config
        assert self._login is not None
        handle, password = self._login
        url = f"{c.api_url}{LOGIN}"
        try:
            answer = self._client.post_json(
                url,
                {"identifier": handle, "password": password},
                timeout=c.timeout,
                max_bytes=c.max_bytes,
            )
        except FetchError as e:
            if e.status == 401:
                raise FetchError(
                    url,
                    f"{e.message}: login refused for {handle} (account "
                    f"{c.accounts[0]}): check its app password",
                    status=401,
                ) from e
            raise
        token = answer.get("accessJwt") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise FetchError(url, "the login answer has no accessJwt")
        return token


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
