"""A double of Bluesky's AppView ``app.bsky.feed.searchPosts`` on 127.0.0.1.

Speaks the documented query parameters: ``q`` (required), ``domain`` (posts
linking to that domain), ``mentions`` (posts mentioning that handle),
``limit`` (1-100), ``sort``. Posts are added with ``add_post`` and filtered
the way the real service does, coarsely: ``q`` "*" matches everything,
otherwise every word of ``q`` must be in the text (any case).

Like Bluesky since 2025, it can refuse anonymous searches (``require_auth``:
HTTP 403 ``AuthMissing``). ``com.atproto.server.createSession`` logs in an
account of ``app_passwords``; a session serves ``session_uses`` searches,
then answers 400 ``ExpiredToken``, as an expired access token does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakes.apiserver import ApiError, ApiRequest, ApiResponse, ApiServer

__all__ = ["FakeBlueskySearch", "SearchPost"]


@dataclass(frozen=True, slots=True)
class SearchPost:
    handle: str
    rkey: str
    text: str
    created_at: str = "2026-11-24T07:30:00.000Z"
    link: str | None = None  # an external embed's URL
    mentions: tuple[str, ...] = ()

    @property
    def did(self) -> str:
        return f"did:plc:{self.handle.split('.')[0]}"

    def view(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": self.text,
            "createdAt": self.created_at,
        }
        if self.link:
            record["embed"] = {
                "$type": "app.bsky.embed.external",
                "external": {"uri": self.link, "title": "", "description": ""},
            }
        return {
            "uri": f"at://{self.did}/app.bsky.feed.post/{self.rkey}",
            "cid": f"bafyrei{self.rkey}",
            "author": {"did": self.did, "handle": self.handle, "displayName": self.handle},
            "record": record,
            "indexedAt": self.created_at,
            "likeCount": 0,
        }


class FakeBlueskySearch(ApiServer):
    def __init__(self) -> None:
        super().__init__()
        self.posts: list[SearchPost] = []
        self.route("GET", r"/xrpc/app\.bsky\.feed\.searchPosts", self.search)
        self.route("GET", r"/xrpc/app\.bsky\.feed\.getPostThread", self.thread)
        self.route("POST", r"/xrpc/com\.atproto\.server\.createSession", self.create_session)
        self.require_auth = False
        self.app_passwords: dict[str, str] = {}
        self.session_uses = 1_000
        self._sessions: dict[str, int] = {}  # access token -> searches left
        # at:// uri of a post -> its replies, each (post, replies of its own)
        self.threads: dict[str, SearchPost] = {}
        self.replies: dict[str, list[SearchPost]] = {}

    def add_reply(self, parent_uri: str, reply: SearchPost) -> str:
        """Add ``reply`` under the post at ``parent_uri``; returns the reply's own uri."""
        self.replies.setdefault(parent_uri, []).append(reply)
        return str(reply.view()["uri"])

    def thread(self, request: ApiRequest) -> ApiResponse:
        uri = (request.query.get("uri") or [""])[0]
        depth = int((request.query.get("depth") or ["6"])[0])
        root = self.threads.get(uri)
        if root is None:
            raise ApiError(400, {"error": "NotFound", "message": f"Post not found: {uri}"})

        def node(post: SearchPost, level: int) -> dict[str, Any]:
            view = post.view()
            children = self.replies.get(view["uri"], []) if level < depth else []
            return {
                "$type": "app.bsky.feed.defs#threadViewPost",
                "post": view,
                "replies": [node(child, level + 1) for child in children]
                + (
                    [
                        {
                            "$type": "app.bsky.feed.defs#notFoundPost",
                            "uri": "at://x",
                            "notFound": True,
                        }
                    ]
                    if level == 0
                    else []
                ),
            }

        return ApiResponse.json({"thread": node(root, 0)})

    def add_post(self, post: SearchPost) -> None:
        self.posts.append(post)

    def create_session(self, request: ApiRequest) -> ApiResponse:
        body = request.json() or {}
        handle = body.get("identifier")
        if not handle or self.app_passwords.get(handle) != body.get("password"):
            raise ApiError(
                401,
                {"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
            )
        token = f"fake-access-jwt-{len(self._sessions) + 1}"
        self._sessions[token] = self.session_uses
        did = f"did:plc:{handle.split('.')[0]}"
        return ApiResponse.json(
            {"accessJwt": token, "refreshJwt": "fake-refresh", "handle": handle, "did": did}
        )

    def _check_session(self, request: ApiRequest) -> None:
        token = request.bearer()
        if token is None:
            if self.require_auth:
                raise ApiError(403, {"error": "AuthMissing", "message": "Authentication Required"})
            return
        left = self._sessions.get(token)
        if left is None:
            raise ApiError(401, {"error": "InvalidToken", "message": "Bad token"})
        if left <= 0:
            raise ApiError(400, {"error": "ExpiredToken", "message": "Token has expired"})
        self._sessions[token] = left - 1

    def search(self, request: ApiRequest) -> ApiResponse:
        self._check_session(request)
        q = (request.query.get("q") or [""])[0]
        if not q:
            raise ApiError(
                400,
                {"error": "InvalidRequest", "message": 'Error: Params must have the property "q"'},
            )
        limit = int((request.query.get("limit") or ["25"])[0])
        if not 1 <= limit <= 100:
            raise ApiError(400, {"error": "InvalidRequest", "message": "limit out of range"})
        domain = (request.query.get("domain") or [None])[0]
        mentions = (request.query.get("mentions") or [None])[0]
        found = []
        for post in reversed(self.posts):  # newest first
            text = post.text.lower()
            if q != "*" and not all(word.lower() in text for word in q.split()):
                continue
            if domain and (not post.link or domain not in post.link):
                continue
            if mentions and mentions not in post.mentions:
                continue
            found.append(post.view())
        return ApiResponse.json({"posts": found[:limit], "hitsTotal": len(found)})
