"""A double of the Mastodon API parts a watch reads, on 127.0.0.1.

``GET /api/v1/timelines/tag/:hashtag`` (public), ``GET /api/v1/notifications``
with ``types[]=mention`` (bearer token), ``GET /api/v2/search?type=statuses``
(bearer token). Statuses carry HTML ``content``, as Mastodon sends them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.fakes.apiserver import ApiError, ApiRequest, ApiResponse, ApiServer

__all__ = ["FakeMastodonSearch", "Status"]

TOKEN = "FAKE-MASTODON-TOKEN"


@dataclass(frozen=True, slots=True)
class Status:
    id: str
    acct: str
    content: str  # HTML
    tags: tuple[str, ...] = ()
    mentions_us: bool = False
    created_at: str = "2026-11-24T07:00:00.000Z"

    def view(self, base: str) -> dict[str, Any]:
        user = self.acct.split("@")[0]
        return {
            "id": self.id,
            "created_at": self.created_at,
            "uri": f"{base}/users/{user}/statuses/{self.id}",
            "url": f"{base}/@{user}/{self.id}",
            "content": self.content,
            "visibility": "public",
            "account": {
                "id": str(sum(map(ord, self.acct))),
                "acct": self.acct,
                "display_name": user.title(),
            },
            "tags": [{"name": t} for t in self.tags],
        }


class FakeMastodonSearch(ApiServer):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[Status] = []
        self.route("GET", r"/api/v1/timelines/tag/(?P<tag>[^/]+)", self.tag_timeline)
        self.route("GET", r"/api/v1/notifications", self.notifications)
        self.route("GET", r"/api/v2/search", self.search)
        self.route("GET", r"/api/v1/statuses/(?P<id>[^/]+)", self.status)
        self.route("GET", r"/api/v1/statuses/(?P<id>[^/]+)/context", self.context)
        # status id -> ids of its replies (descendants, in order)
        self.replies: dict[str, list[str]] = {}

    def _find(self, status_id: str) -> Status:
        for status in self.statuses:
            if status.id == status_id:
                return status
        raise ApiError(404, {"error": "Record not found"})

    def status(self, request: ApiRequest) -> ApiResponse:
        assert request.match is not None
        return ApiResponse.json(self._find(request.match.group("id")).view(self.url))

    def context(self, request: ApiRequest) -> ApiResponse:
        assert request.match is not None
        root = self._find(request.match.group("id"))
        descendants = []
        queue = list(self.replies.get(root.id, []))
        while queue:
            reply = self._find(queue.pop(0))
            view = reply.view(self.url)
            view["in_reply_to_id"] = root.id
            descendants.append(view)
            queue += self.replies.get(reply.id, [])
        return ApiResponse.json({"ancestors": [], "descendants": descendants})

    def add(self, status: Status) -> None:
        self.statuses.append(status)

    def _limit(self, request: ApiRequest) -> int:
        return min(int((request.query.get("limit") or ["20"])[0]), 40)

    def tag_timeline(self, request: ApiRequest) -> ApiResponse:
        assert request.match is not None
        tag = request.match.group("tag").lower()
        found = [
            s.view(self.url) for s in reversed(self.statuses) if tag in (t.lower() for t in s.tags)
        ]
        return ApiResponse.json(found[: self._limit(request)])

    def notifications(self, request: ApiRequest) -> ApiResponse:
        request.require_bearer(TOKEN)
        types = request.query.get("types[]", [])
        found = [
            {
                "id": f"n{s.id}",
                "type": "mention",
                "created_at": s.created_at,
                "account": s.view(self.url)["account"],
                "status": s.view(self.url),
            }
            for s in reversed(self.statuses)
            if s.mentions_us
        ]
        # A favourite, which `types[]=mention` must leave out.
        if types != ["mention"]:
            found.append({"id": "f1", "type": "favourite", "created_at": "2026-11-24T07:00:00Z"})
        return ApiResponse.json(found[: self._limit(request)])

    def search(self, request: ApiRequest) -> ApiResponse:
        request.require_bearer(TOKEN)
        q = (request.query.get("q") or [""])[0].lower()
        if not q:
            raise ApiError(400, {"error": "q is required"})
        found = [s.view(self.url) for s in reversed(self.statuses) if q in s.content.lower()]
        return ApiResponse.json(
            {"accounts": [], "statuses": found[: self._limit(request)], "hashtags": []}
        )
