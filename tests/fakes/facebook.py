"""A double of the Graph API for one Facebook Page, on 127.0.0.1.

``POST /vXX.0/{page_id}/feed`` takes a form body with ``access_token``,
``message`` and ``link``; ``GET /vXX.0/{page_id}/feed`` lists the Page's posts
with the fields asked for (refusing ``link``, removed in v3.3);
``GET /vXX.0/{page_id}`` describes the Page. Errors have the Graph shape
``{"error": {"message", "type", "code", "fbtrace_id"}}``.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any
from urllib.parse import quote

from tests.fakes.apiserver import ApiError, ApiRequest, ApiResponse, ApiServer

PAGE_ID = "104123456789012"
PAGE_TOKEN = "EAAfakePageToken0123456789abcdef"
PAGE_NAME = "Mairie d'Exempleville"
VERSION = r"/v(?P<version>\d+\.0)"


def graph_error(status: int, code: int, message: str, kind: str = "OAuthException") -> ApiError:
    return ApiError(
        status, {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AbC"}}
    )


class FakeFacebook(ApiServer):
    def __init__(self) -> None:
        super().__init__()
        self.posts: list[dict[str, Any]] = []
        self._ids = itertools.count(900_000_000_000_001)
        self._plock = threading.Lock()
        self.route("POST", VERSION + r"/(?P<page>\d+)/feed", self.create_post)
        self.route("GET", VERSION + r"/(?P<page>\d+)/feed", self.list_posts)
        self.route("GET", VERSION + r"/(?P<page>\d+)", self.page)
        self.route("DELETE", VERSION + r"/(?P<post>\d+_\d+)", self.delete_post)
        self.route("POST", VERSION + r"/(?P<post>\d+_\d+)", self.update_post)
        self.deleted: list[str] = []  # ids of the posts deleted, in order
        self.edited: list[tuple[str, str]] = []  # (id, new message) of each edit, in order

    def reset(self) -> None:
        """Forget what was received and any fault not yet used (a server shared by tests)."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
        self.posts.clear()
        self.deleted.clear()
        self.edited.clear()

    def _token(self, request: ApiRequest, params: dict[str, list[str]]) -> None:
        token = (params.get("access_token") or [""])[0]
        if not token:
            raise graph_error(400, 2500, "An active access token must be used to query.")
        if token != PAGE_TOKEN:
            raise graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")

    def _page(self, request: ApiRequest) -> str:
        assert request.match is not None
        if request.match["page"] != PAGE_ID:
            raise graph_error(400, 100, "Unsupported request", "GraphMethodException")
        return request.match["page"]

    def create_post(self, request: ApiRequest) -> ApiResponse:
        form = request.form()
        self._token(request, {**request.query, **form})
        page = self._page(request)
        message = (form.get("message") or [""])[0]
        link = (form.get("link") or [""])[0]
        if not message and not link:
            raise graph_error(400, 100, "(#100) Missing message or attachment", "OAuthException")
        if link and not link.startswith(("http://", "https://")):
            raise graph_error(400, 100, "(#100) The parameter link is invalid")
        if len(message) > 63_206:
            raise graph_error(400, 100, "(#100) The message is too long")
        with self._plock:
            if message and any(p["message"] == message for p in self.posts):
                raise graph_error(400, 506, "Duplicate status message")
            post_id = f"{page}_{next(self._ids)}"
            self.posts.append({"id": post_id, "message": message, "link": link})
        return ApiResponse.json({"id": post_id})

    def list_posts(self, request: ApiRequest) -> ApiResponse:
        self._token(request, dict(request.query))
        self._page(request)
        fields = (request.query.get("fields") or ["id"])[0]
        names = {f.split("{")[0] for f in fields.split(",")}
        if "link" in names:
            raise graph_error(
                400, 12, "(#12) link field is deprecated for versions v3.3 and higher"
            )
        limit = int((request.query.get("limit") or ["25"])[0])
        with self._plock:
            recent = list(reversed(self.posts))[:limit]
        data = []
        for post in recent:
            entry: dict[str, Any] = {"id": post["id"]}
            if "message" in names and post["message"]:
                entry["message"] = post["message"]
            if "permalink_url" in names:
                entry["permalink_url"] = f"https://www.facebook.com/{post['id'].split('_')[1]}"
            if "attachments" in names and post["link"]:
                shim = "https://l.facebook.com/l.php?u=" + quote(post["link"], safe="")
                entry["attachments"] = {
                    "data": [{"url": shim, "unshimmed_url": post["link"], "type": "share"}]
                }
            data.append(entry)
        return ApiResponse.json({"data": data, "paging": {}})

    def update_post(self, request: ApiRequest) -> ApiResponse:
        """``POST /{post-id}`` with ``message``: ``{"success": true}``; a post that is not
        there is error 100, "does not exist"."""
        form = request.form()
        self._token(request, {**request.query, **form})
        assert request.match is not None
        post_id = request.match["post"]
        message = (form.get("message") or [""])[0]
        if not message:
            raise graph_error(400, 100, "(#100) Missing message")
        with self._plock:
            post = next((p for p in self.posts if p["id"] == post_id), None)
            if post is None:
                raise graph_error(400, 100, f"Object with ID '{post_id}' does not exist")
            post["message"] = message
            self.edited.append((post_id, message))
        return ApiResponse.json({"success": True})

    def delete_post(self, request: ApiRequest) -> ApiResponse:
        """``DELETE /{post-id}``: ``{"success": true}``; a post that is not there is the
        Graph API's error 100 (subcode 33), "does not exist"."""
        self._token(request, {**request.query, **request.form()})
        assert request.match is not None
        post_id = request.match["post"]
        with self._plock:
            post = next((p for p in self.posts if p["id"] == post_id), None)
            if post is None:
                raise ApiError(
                    400,
                    {
                        "error": {
                            "message": f"Unsupported delete request. Object with ID '{post_id}' "
                            "does not exist, cannot be loaded due to missing permissions, or "
                            "does not support this operation.",
                            "type": "GraphMethodException",
                            "code": 100,
                            "error_subcode": 33,
                            "fbtrace_id": "AbC",
                        }
                    },
                )
            self.posts.remove(post)
            self.deleted.append(post_id)
        return ApiResponse.json({"success": True})

    def page(self, request: ApiRequest) -> ApiResponse:
        self._token(request, dict(request.query))
        page = self._page(request)
        return ApiResponse.json({"id": page, "name": PAGE_NAME})
