"""A double of LinkedIn's Posts API for one organization page, on 127.0.0.1.

It checks what LinkedIn checks — bearer token (and its scope: a read-only
token gets 403 on a post), ``Linkedin-Version`` and
``X-Restli-Protocol-Version`` headers, the post's required fields, 3,000
characters of commentary — and reads the commentary as LinkedIn does: an
unescaped little-text character cuts the text there, silently. What a reader
would see is kept in ``displayed`` so tests can compare it with what was meant.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any
from urllib.parse import unquote

from tests.fakes.apiserver import ApiError, ApiRequest, ApiResponse, ApiServer

ORGANIZATION_ID = "2414183"
AUTHOR = f"urn:li:organization:{ORGANIZATION_ID}"
TOKEN = "AQVfakeLinkedInToken0123456789"
READ_ONLY_TOKEN = "AQVfakeReadOnlyToken0123456789"
ORGANIZATION_NAME = "Ville d'Exempleville"

RESERVED = set("\\|{}@[]()<>#*_~")
CUTTING_IN_URL = set("()[]{}<>|\\*~")
HASHTAG = "{hashtag|\\#|"
OLDEST_VERSION = "202601"


def li_error(status: int, message: str, code: str = "") -> ApiError:
    return ApiError(status, {"status": status, "message": message, "code": code})


def displayed(commentary: str) -> str:
    """The text LinkedIn shows for a little-text commentary (cut at an unescaped character)."""
    out: list[str] = []
    i = 0
    n = len(commentary)
    while i < n:
        ch = commentary[i]
        if commentary.startswith(("http://", "https://"), i) and (
            i == 0 or commentary[i - 1].isspace()
        ):
            end = i
            while end < n and not commentary[end].isspace():
                if commentary[end] in CUTTING_IN_URL:
                    return "".join(out) + commentary[i:end]
                end += 1
            out.append(commentary[i:end])
            i = end
            continue
        if commentary.startswith(HASHTAG, i):
            end = commentary.find("}", i)
            if end < 0:
                return "".join(out)
            out.append("#" + re.sub(r"\\(.)", r"\1", commentary[i + len(HASHTAG) : end]))
            i = end + 1
            continue
        if ch == "\\" and i + 1 < n:
            out.append(commentary[i + 1])
            i += 2
            continue
        if ch == "#" and i + 1 < n and commentary[i + 1].isalnum():
            out.append(ch)  # a bare hashtag element
            i += 1
            continue
        if ch in RESERVED:
            return "".join(out)
        out.append(ch)
        i += 1
    return "".join(out)


class FakeLinkedIn(ApiServer):
    def __init__(self) -> None:
        super().__init__()
        self.posts: list[dict[str, Any]] = []
        self._ids = itertools.count(7_200_000_000_000_000_001)
        self._plock = threading.Lock()
        # The oldest Linkedin-Version still served (LinkedIn serves each about a year).
        self.oldest_version = OLDEST_VERSION
        self.route("POST", r"/rest/posts", self.create_post)
        self.route("GET", r"/rest/posts", self.find_posts)
        self.route("GET", r"/rest/organizations/(?P<id>\d+)", self.organization)
        self.route("DELETE", r"/rest/posts/(?P<urn>[^/]+)", self.delete_post)
        self.route("POST", r"/rest/posts/(?P<urn>[^/]+)", self.update_post)
        self.deleted: list[str] = []  # urns of the posts deleted, in order
        self.edited: list[tuple[str, str]] = []  # (urn, new commentary) of each edit

    def reset(self) -> None:
        """Forget what was received and any fault not yet used (a server shared by tests)."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
        self.posts.clear()
        self.deleted.clear()
        self.edited.clear()

    def _headers(self, request: ApiRequest, *, write: bool) -> None:
        token = request.bearer()
        if token not in (TOKEN, READ_ONLY_TOKEN):
            raise li_error(401, "Invalid access token", "INVALID_ACCESS_TOKEN")
        if write and token == READ_ONLY_TOKEN:
            raise li_error(
                403,
                "Not enough permissions to access: partnerApiPostsExternal.CREATE.20251101",
                "ACCESS_DENIED",
            )
        version = request.headers.get("linkedin-version", "")
        if not re.fullmatch(r"20\d{4}", version):
            raise li_error(426, "A version must be present. Please specify a version.")
        if version < self.oldest_version:
            # LinkedIn's answer to a version past its year of support.
            raise li_error(426, f"Requested version {version} is not active", "NONEXISTENT_VERSION")
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            raise li_error(400, "X-Restli-Protocol-Version 2.0.0 is required")

    def create_post(self, request: ApiRequest) -> ApiResponse:
        self._headers(request, write=True)
        body = request.json() or {}
        if body.get("author") != AUTHOR:
            raise li_error(403, "Member is not an administrator of the organization")
        commentary = body.get("commentary", "")
        if not isinstance(commentary, str):
            raise li_error(422, "/commentary :: must be a string")
        if len(commentary) > 3000:
            raise li_error(422, "/commentary :: length exceeds 3000 characters")
        distribution = body.get("distribution") or {}
        if (
            body.get("visibility") != "PUBLIC"
            or distribution.get("feedDistribution") != "MAIN_FEED"
            or body.get("lifecycleState") != "PUBLISHED"
            or not isinstance(body.get("isReshareDisabledByAuthor"), bool)
        ):
            raise li_error(422, "ERROR :: /visibility, /distribution or /lifecycleState invalid")
        article = (body.get("content") or {}).get("article") or {}
        if not str(article.get("source", "")).startswith(("http://", "https://")):
            raise li_error(422, "/content/article/source :: invalid URL")
        if not article.get("title"):
            raise li_error(422, "/content/article/title :: required")
        with self._plock:
            for post in self.posts:
                if post["commentary"] == commentary and post["source"] == article["source"]:
                    raise li_error(422, f"Content is a duplicate of {post['id']}", "DUPLICATE_POST")
            urn = f"urn:li:share:{next(self._ids)}"
            self.posts.append(
                {
                    "id": urn,
                    "commentary": commentary,
                    "displayed": displayed(commentary),
                    "source": article["source"],
                    "body": body,
                }
            )
        return ApiResponse(201, b"", {"x-restli-id": urn})

    def find_posts(self, request: ApiRequest) -> ApiResponse:
        self._headers(request, write=False)
        if request.headers.get("x-restli-method", "").upper() != "FINDER":
            raise li_error(400, "X-RestLi-Method FINDER is required for finders")
        if request.query.get("q") != ["author"] or request.query.get("author") != [AUTHOR]:
            raise li_error(400, "finder author requires author=urn:li:organization:…")
        count = int((request.query.get("count") or ["10"])[0])
        with self._plock:
            recent = list(reversed(self.posts))[:count]
        elements = [
            {
                "id": p["id"],
                "author": AUTHOR,
                "commentary": p["commentary"],
                "content": {"article": {"source": p["source"]}},
                "lifecycleState": "PUBLISHED",
            }
            for p in recent
        ]
        return ApiResponse.json({"elements": elements, "paging": {"count": count, "start": 0}})

    def update_post(self, request: ApiRequest) -> ApiResponse:
        """``POST /rest/posts/{encoded urn}`` with ``X-RestLi-Method: PARTIAL_UPDATE`` and
        ``{"patch": {"$set": {...}}}``: 204; only ``commentary`` may be set."""
        self._headers(request, write=True)
        if request.headers.get("x-restli-method", "").upper() != "PARTIAL_UPDATE":
            raise li_error(400, "X-RestLi-Method PARTIAL_UPDATE is required")
        assert request.match is not None
        urn = unquote(request.match["urn"])
        patch = (request.json() or {}).get("patch") or {}
        changes = patch.get("$set") if isinstance(patch, dict) else None
        if not isinstance(changes, dict) or set(changes) != {"commentary"}:
            raise li_error(422, "ERROR :: /patch :: only commentary can be updated")
        commentary = changes["commentary"]
        if not isinstance(commentary, str) or len(commentary) > 3000:
            raise li_error(422, "/commentary :: must be a string of at most 3000 characters")
        with self._plock:
            post = next((p for p in self.posts if p["id"] == urn), None)
            if post is None:
                raise li_error(404, "Not found")
            post["commentary"] = commentary
            post["displayed"] = displayed(commentary)
            self.edited.append((urn, commentary))
        return ApiResponse(204, b"", {})

    def delete_post(self, request: ApiRequest) -> ApiResponse:
        """``DELETE /rest/posts/{encoded urn}`` with ``X-RestLi-Method: DELETE``: 204, also
        for a post already deleted (the call is repeatable)."""
        self._headers(request, write=True)
        if request.headers.get("x-restli-method", "").upper() != "DELETE":
            raise li_error(400, "X-RestLi-Method DELETE is required")
        assert request.match is not None
        urn = unquote(request.match["urn"])
        with self._plock:
            post = next((p for p in self.posts if p["id"] == urn), None)
            if post is not None:
                self.posts.remove(post)
                self.deleted.append(urn)
        return ApiResponse(204, b"", {})

    def organization(self, request: ApiRequest) -> ApiResponse:
        self._headers(request, write=False)
        assert request.match is not None
        if request.match["id"] != ORGANIZATION_ID:
            raise li_error(404, "Not found")
        return ApiResponse.json({"id": int(ORGANIZATION_ID), "localizedName": ORGANIZATION_NAME})
