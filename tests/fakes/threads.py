"""A double of Meta's Graph API for Threads for one profile, on 127.0.0.1.

It speaks the documented requests: containers (``POST /v1.0/{user}/threads``,
form fields, ``media_type`` TEXT or IMAGE), their status
(``GET /v1.0/{id}?fields=status,error_message``), publishing
(``POST /v1.0/{user}/threads_publish``), the profile's threads, its publishing
limit, ``/me``, ``/refresh_access_token`` and deleting a post
(``DELETE /v1.0/{media-id}``, 100 a day). It checks what Meta checks: the
``access_token`` parameter, 500 characters (emoji counted as their UTF-8
bytes), 5 distinct links, the topic tag's form, 250 published posts in 24
hours. Errors are Graph's ``{"error": {"message", "type", "code",
"error_subcode"}}``, with the HTTP status Graph uses (400 for a refused token).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import twitter_text

from autoposter.publishers.threads import text_length
from tests.fakes.apiserver import ApiError, ApiRequest, ApiResponse, ApiServer

USER_ID = "17841400000000001"
USERNAME = "ville_exempleville"
TOKEN = "THFAKElongLivedToken0123456789"
REFRESHED_PREFIX = "THFAKErefreshed"
QUOTA = 250
DELETES_PER_DAY = 100

V = r"/v1\.0"


def graph_error(
    status: int, message: str, code: int, *, subcode: int | None = None, kind: str = ""
) -> ApiError:
    error: dict[str, Any] = {
        "message": message,
        "type": kind or "OAuthException",
        "code": code,
        "fbtrace_id": "AFakeTraceId",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return ApiError(status, {"error": error})


class FakeThreads(ApiServer):
    def __init__(self) -> None:
        super().__init__()
        self.valid_tokens: set[str] = {TOKEN}
        self.containers: dict[str, dict[str, Any]] = {}
        self.posts: list[dict[str, Any]] = []
        self.refreshed: list[str] = []
        self.deleted: list[str] = []  # ids of the posts deleted, in order
        # How many status reads of a new container answer IN_PROGRESS before FINISHED.
        self.in_progress_reads = 0
        # Image URLs Meta cannot download: their containers end in ERROR.
        self.broken_images: set[str] = set()
        self._ids = itertools.count(18_000_000_000_000_001)
        self._plock = threading.Lock()
        self.route("POST", rf"{V}/(?P<user>\d+)/threads", self.create_container)
        self.route("POST", rf"{V}/(?P<user>\d+)/threads_publish", self.publish)
        self.route("GET", rf"{V}/(?P<user>\d+)/threads", self.list_threads)
        self.route("GET", rf"{V}/(?P<user>\d+)/threads_publishing_limit", self.publishing_limit)
        self.route("GET", rf"{V}/me", self.me)
        self.route("GET", rf"{V}/(?P<id>\d+)", self.read_object)
        self.route("GET", r"/refresh_access_token", self.refresh)
        self.route("DELETE", rf"{V}/(?P<id>\d+)", self.delete_post)

    def reset(self) -> None:
        """Forget what was received and any fault not yet used (a server shared by tests)."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
        with self._plock:
            self.valid_tokens = {TOKEN}
            self.containers.clear()
            self.posts.clear()
            self.refreshed.clear()
            self.deleted.clear()
            self.in_progress_reads = 0
            self.broken_images.clear()

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def _params(request: ApiRequest) -> dict[str, str]:
        merged = {k: v[0] for k, v in request.query.items()}
        if request.method == "POST":
            merged.update({k: v[0] for k, v in request.form().items()})
        return merged

    def _auth(self, params: dict[str, str]) -> None:
        token = params.get("access_token")
        if not token:
            raise graph_error(400, "An active access token must be used.", 2500)
        if token not in self.valid_tokens:
            raise graph_error(
                400,
                "Error validating access token: The session has been invalidated.",
                190,
                subcode=460,
            )

    def _user(self, request: ApiRequest) -> None:
        assert request.match is not None
        if request.match["user"] != USER_ID:
            raise graph_error(
                400, "Unsupported request: the object does not exist.", 100, subcode=33
            )

    def revoke(self) -> None:
        with self._plock:
            self.valid_tokens.clear()

    # -- routes -----------------------------------------------------------------------

    def create_container(self, request: ApiRequest) -> ApiResponse:
        params = self._params(request)
        self._auth(params)
        self._user(request)
        media_type = params.get("media_type")
        text = params.get("text", "")
        if media_type not in ("TEXT", "IMAGE"):
            raise graph_error(
                400, "Param media_type must be one of {TEXT, IMAGE, VIDEO, CAROUSEL}", 100
            )
        if media_type == "TEXT" and not text:
            raise graph_error(400, "Param text is required for TEXT posts", 100)
        if media_type == "IMAGE" and not params.get("image_url"):
            raise graph_error(400, "Param image_url is required for IMAGE posts", 100)
        if "link_attachment" in params and media_type != "TEXT":
            raise graph_error(400, "link_attachment is only available for TEXT posts", 100)
        if text_length(text) > 500:
            raise graph_error(
                400, "Param text must be at most 500 characters long.", 100, subcode=2207009
            )
        counted = {str(u) for u in twitter_text.extract_urls(text)}
        if params.get("link_attachment"):
            counted.add(params["link_attachment"])
        if len(counted) > 5:
            raise graph_error(
                400,
                "THREADS_API__LINK_LIMIT_EXCEEDED: posts may contain at most 5 links.",
                100,
                subcode=4279011,
                kind="THREADS_API__LINK_LIMIT_EXCEEDED",
            )
        topic = params.get("topic_tag")
        if topic is not None and (not 1 <= len(topic) <= 50 or "." in topic or "&" in topic):
            raise graph_error(400, "Param topic_tag is not a valid topic", 100)
        with self._plock:
            container = str(next(self._ids))
            broken = media_type == "IMAGE" and params["image_url"] in self.broken_images
            self.containers[container] = {
                "id": container,
                "fields": params,
                "status": "ERROR" if broken else "IN_PROGRESS",
                "error_message": "UNKNOWN" if broken else None,
                "reads_left": self.in_progress_reads,
                "created": time.time(),
            }
        return ApiResponse.json({"id": container})

    def publish(self, request: ApiRequest) -> ApiResponse:
        params = self._params(request)
        self._auth(params)
        self._user(request)
        with self._plock:
            container = self.containers.get(params.get("creation_id", ""))
            if container is None:
                raise graph_error(400, "The requested resource does not exist", 24, subcode=4279009)
            if container["status"] == "PUBLISHED":
                raise graph_error(400, "The media has already been published", 24, subcode=4279010)
            if container["status"] != "FINISHED" and container["reads_left"] > 0:
                raise graph_error(
                    400, "The media is not ready to be published", 24, subcode=4279009
                )
            if container["status"] == "ERROR":
                raise graph_error(400, "The media could not be processed", 24, subcode=4279009)
            cutoff = time.time() - 86400
            if sum(1 for p in self.posts if p["time"] > cutoff) >= QUOTA:
                raise graph_error(
                    400, "You have reached the maximum number of posts allowed in 24 hours.", 4
                )
            media_id = str(next(self._ids))
            fields = container["fields"]
            container["status"] = "PUBLISHED"
            self.posts.append(
                {
                    "id": media_id,
                    "text": fields.get("text", ""),
                    "media_type": "TEXT_POST" if fields["media_type"] == "TEXT" else "IMAGE",
                    "link_attachment_url": fields.get("link_attachment"),
                    "image_url": fields.get("image_url"),
                    "alt_text": fields.get("alt_text"),
                    "topic_tag": fields.get("topic_tag"),
                    "permalink": f"https://www.threads.com/@{USERNAME}/post/F{media_id[-6:]}",
                    "time": time.time(),
                }
            )
        return ApiResponse.json({"id": media_id})

    def read_object(self, request: ApiRequest) -> ApiResponse:
        params = self._params(request)
        self._auth(params)
        assert request.match is not None
        wanted = params.get("fields", "id").split(",")
        with self._plock:
            container = self.containers.get(request.match["id"])
            if container is not None:
                if container["status"] == "IN_PROGRESS":
                    if container["reads_left"] > 0:
                        container["reads_left"] -= 1
                    else:
                        container["status"] = "FINISHED"
                answer = {"id": container["id"], "status": container["status"]}
                if container["error_message"]:
                    answer["error_message"] = container["error_message"]
                return ApiResponse.json({k: v for k, v in answer.items() if k in [*wanted, "id"]})
            for post in self.posts:
                if post["id"] == request.match["id"]:
                    return ApiResponse.json(self._shown(post, wanted))
        raise graph_error(400, "Unsupported get request. Object does not exist.", 100, subcode=33)

    @staticmethod
    def _shown(post: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        shown = {
            "id": post["id"],
            "text": post["text"],
            "media_type": post["media_type"],
            "permalink": post["permalink"],
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(post["time"])),
        }
        if post["link_attachment_url"]:
            shown["link_attachment_url"] = post["link_attachment_url"]
        return {k: v for k, v in shown.items() if k in [*wanted, "id"]}

    def list_threads(self, request: ApiRequest) -> ApiResponse:
        params = self._params(request)
        self._auth(params)
        self._user(request)
        limit = int(params.get("limit", "25"))
        wanted = params.get("fields", "id").split(",")
        with self._plock:
            recent = list(reversed(self.posts))[:limit]
        return ApiResponse.json(
            {"data": [self._shown(p, wanted) for p in recent], "paging": {"cursors": {}}}
        )

    def publishing_limit(self, request: ApiRequest) -> ApiResponse:
        params = self._params(request)
        self._auth(params)
        self._user(request)
        cutoff = time.time() - 86400
        with self._plock:
            used = sum(1 for p in self.posts if p["time"] > cutoff)
        return ApiResponse.json(
            {
                "data": [
                    {"quota_usage": used, "config": {"quota_total": QUOTA, "quota_duration": 86400}}
                ]
            }
        )

    def me(self, request: ApiRequest) -> ApiResponse:
        params = self._params(request)
        self._auth(params)
        return ApiResponse.json({"id": USER_ID, "username": USERNAME})

    def refresh(self, request: ApiRequest) -> ApiResponse:
        params = self._params(request)
        if params.get("grant_type") != "th_refresh_token":
            raise graph_error(400, "Unsupported grant_type", 100)
        self._auth(params)
        with self._plock:
            token = f"{REFRESHED_PREFIX}{len(self.refreshed) + 1:04d}abcdef"
            self.refreshed.append(token)
            self.valid_tokens.add(token)
        return ApiResponse.json(
            {"access_token": token, "token_type": "bearer", "expires_in": 5_184_000}
        )

    def delete_post(self, request: ApiRequest) -> ApiResponse:
        params = self._params(request)
        self._auth(params)
        assert request.match is not None
        media_id = request.match["id"]
        with self._plock:
            if len(self.deleted) >= DELETES_PER_DAY:
                raise graph_error(400, "You have reached the maximum number of deletes.", 4)
            for post in self.posts:
                if post["id"] == media_id:
                    self.posts.remove(post)
                    self.deleted.append(media_id)
                    return ApiResponse.json({"success": True, "deleted_id": media_id})
        raise graph_error(
            400, "Unsupported delete request. Object does not exist.", 100, subcode=33
        )
