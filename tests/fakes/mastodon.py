"""A Mastodon instance on 127.0.0.1 speaking the part of the API autoposter uses.

Documented behaviour it reproduces (docs.joinmastodon.org, Mastodon 4.x):

- bearer token on every call but the instance information; 401
  ``{"error": "The access token is invalid"}`` otherwise;
- ``POST /api/v1/statuses`` (form body, ``media_ids[]``): length counted as
  the server's ``StatusLengthValidator`` does (grapheme clusters of
  ``spoiler_text`` + ``status``, each http(s) URL counting 23), 422 with the
  server's message when over the limit, a bad visibility or an unknown media;
  the ``Idempotency-Key`` header answers the same status for the same key for
  an hour;
- ``POST /api/v2/media`` (multipart ``file``, ``description`` of at most 1500
  characters), ``GET /api/v1/media/:id``;
- ``GET /api/v1/accounts/verify_credentials``, ``GET /api/v1/accounts/:id/statuses``
  (newest first, ``limit`` at most 40), ``GET /api/v2/instance`` with
  ``configuration.statuses.max_characters`` and ``characters_reserved_per_url``;
- ``DELETE /api/v1/statuses/:id``: the deleted status (with its ``text``), 404
  ``{"error": "Record not found"}`` for a status that is not there (``deleted``).

Everything received is recorded (``statuses``, ``media``, ``requests``).
"""

from __future__ import annotations

import html
import re
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import regex

from tests.fakes.apiserver import ApiError, ApiRequest, ApiResponse, ApiServer

__all__ = ["TOKEN", "FakeMastodon", "server_length"]

TOKEN = "FAKE-MASTODON-TOKEN"
IDEMPOTENCY_SECONDS = 3600.0
_URL = re.compile(r"https?://[^\s<>]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]}"
_GRAPHEME = regex.compile(r"\X")


def server_length(text: str, spoiler_text: str = "", url_chars: int = 23) -> int:
    """What the server counts: URLs as ``url_chars`` x's, then grapheme clusters."""

    def placeholder(match: re.Match[str]) -> str:
        url = match.group()
        kept = url.rstrip(_URL_TRAILING)
        return "x" * url_chars + url[len(kept) :]

    return len(_GRAPHEME.findall(spoiler_text + _URL.sub(placeholder, text)))


@dataclass
class Status:
    id: str
    text: str
    visibility: str
    language: str | None
    spoiler_text: str
    media_ids: list[str]
    idempotency_key: str | None
    created: float = field(default_factory=time.time)


class FakeMastodon(ApiServer):
    """See the module documentation; ``max_characters`` is the instance's limit."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        max_characters: int = 500,
        domain: str = "social.ville.example",
        username: str = "mairie",
    ) -> None:
        super().__init__()
        self.token = token
        self.max_characters = max_characters
        self.domain = domain
        self.username = username
        self.account_id = "109000000000000001"
        self.statuses: list[Status] = []
        self.media: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, tuple[float, str]] = {}
        self._next = 110000000000000000
        self._data_lock = threading.Lock()
        self.clock = time.monotonic  # tests move time to expire idempotency keys
        self.route("GET", r"/api/v2/instance/?", self.instance)
        self.route("GET", r"/api/v1/accounts/verify_credentials", self.verify_credentials)
        self.route("GET", r"/api/v1/accounts/(?P<id>\d+)/statuses", self.account_statuses)
        self.route("POST", r"/api/v1/statuses", self.post_status)
        self.route("POST", r"/api/v2/media", self.post_media)
        self.route("GET", r"/api/v1/media/(?P<id>\d+)", self.get_media)
        self.route("DELETE", r"/api/v1/statuses/(?P<id>\d+)", self.delete_status)
        self.route("PUT", r"/api/v1/statuses/(?P<id>\d+)", self.update_status)
        self.deleted: list[str] = []  # ids of the statuses deleted, in order
        self.edited: list[tuple[str, str]] = []  # (id, new text) of each edit, in order

    def reset(self, *, max_characters: int = 500) -> None:
        """Forget everything received, as a fresh instance (tests share one server)."""
        with self._lock, self._data_lock:
            self.requests.clear()
            self._faults.clear()
            self.statuses.clear()
            self.deleted.clear()
            self.edited.clear()
            self.media.clear()
            self._keys.clear()
            self.max_characters = max_characters
            self.clock = time.monotonic

    # -- handlers --------------------------------------------------------------

    def instance(self, request: ApiRequest) -> ApiResponse:
        return ApiResponse.json(
            {
                "domain": self.domain,
                "title": "Social Ville",
                "version": "4.3.0",
                "api_versions": {"mastodon": 2},
                "configuration": {
                    "statuses": {
                        "max_characters": self.max_characters,
                        "max_media_attachments": 4,
                        "characters_reserved_per_url": 23,
                    },
                    "media_attachments": {
                        "image_size_limit": 16777216,
                        "description_limit": 1500,
                    },
                },
            }
        )

    def verify_credentials(self, request: ApiRequest) -> ApiResponse:
        request.require_bearer(self.token)
        return ApiResponse.json(self._account())

    def account_statuses(self, request: ApiRequest) -> ApiResponse:
        request.require_bearer(self.token)
        assert request.match is not None
        if request.match["id"] != self.account_id:
            raise ApiError(404, {"error": "Record not found"})
        limit = min(int(request.query.get("limit", ["20"])[0]), 40)
        with self._data_lock:
            newest = list(reversed(self.statuses))[:limit]
        return ApiResponse.json([self._status_json(s) for s in newest])

    def post_status(self, request: ApiRequest) -> ApiResponse:
        request.require_bearer(self.token)
        form = request.form()
        text = form.get("status", [""])[0]
        spoiler = form.get("spoiler_text", [""])[0]
        visibility = form.get("visibility", ["public"])[0]
        language = form.get("language", [None])[0]
        media_ids = form.get("media_ids[]", [])
        key = request.headers.get("idempotency-key")
        with self._data_lock:
            if key is not None:
                seen = self._keys.get(key)
                if seen is not None and self.clock() - seen[0] < IDEMPOTENCY_SECONDS:
                    status = next(s for s in self.statuses if s.id == seen[1])
                    return ApiResponse.json(self._status_json(status))
            if not text.strip() and not media_ids:
                raise ApiError(422, {"error": "Validation failed: Text can't be blank"})
            if visibility not in ("public", "unlisted", "private", "direct"):
                raise ApiError(422, {"error": f"Validation failed: Visibility {visibility}"})
            counted = server_length(text, spoiler)
            if counted > self.max_characters:
                raise ApiError(
                    422,
                    {
                        "error": "Validation failed: Text character limit of "
                        f"{self.max_characters} exceeded"
                    },
                )
            for media_id in media_ids:
                if media_id not in self.media:
                    raise ApiError(422, {"error": "Validation failed: Media is invalid"})
            status = Status(
                id=self._new_id(),
                text=text,
                visibility=visibility,
                language=language,
                spoiler_text=spoiler,
                media_ids=list(media_ids),
                idempotency_key=key,
            )
            self.statuses.append(status)
            if key is not None:
                self._keys[key] = (self.clock(), status.id)
        return ApiResponse.json(self._status_json(status))

    def post_media(self, request: ApiRequest) -> ApiResponse:
        request.require_bearer(self.token)
        parts = _multipart(request)
        upload = parts.get("file")
        if upload is None:
            raise ApiError(422, {"error": "Validation failed: File can't be blank"})
        content_type, data = upload
        if not content_type.startswith("image/"):
            raise ApiError(422, {"error": "Validation failed: File has contents not supported"})
        description = parts.get("description", ("", b""))[1].decode("utf-8")
        if len(description) > 1500:
            raise ApiError(
                422, {"error": "Validation failed: Description is too long (maximum is 1500)"}
            )
        with self._data_lock:
            media_id = self._new_id()
            self.media[media_id] = {
                "id": media_id,
                "type": "image",
                "url": f"https://{self.domain}/media/{media_id}.jpg",
                "preview_url": f"https://{self.domain}/media/{media_id}-small.jpg",
                "description": description or None,
                "content_type": content_type,
                "size": len(data),
            }
            return ApiResponse.json(_public_media(self.media[media_id]))

    def get_media(self, request: ApiRequest) -> ApiResponse:
        request.require_bearer(self.token)
        assert request.match is not None
        media = self.media.get(request.match["id"])
        if media is None:
            raise ApiError(404, {"error": "Record not found"})
        return ApiResponse.json(_public_media(media))

    def delete_status(self, request: ApiRequest) -> ApiResponse:
        """``DELETE /api/v1/statuses/:id``: the deleted status with its source ``text``
        (for "delete and redraft"); 404 "Record not found" when there is none."""
        request.require_bearer(self.token)
        assert request.match is not None
        with self._data_lock:
            status = next((s for s in self.statuses if s.id == request.match["id"]), None)
            if status is None:
                raise ApiError(404, {"error": "Record not found"})
            self.statuses.remove(status)
            self.deleted.append(status.id)
        return ApiResponse.json({**self._status_json(status), "text": status.text})

    def update_status(self, request: ApiRequest) -> ApiResponse:
        """``PUT /api/v1/statuses/:id``: the status with its new text (the whole text is
        replaced, not patched); 404 when there is none, 422 for a blank or long text."""
        request.require_bearer(self.token)
        assert request.match is not None
        form = request.form()
        text = form.get("status", [""])[0]
        with self._data_lock:
            status = next((s for s in self.statuses if s.id == request.match["id"]), None)
            if status is None:
                raise ApiError(404, {"error": "Record not found"})
            if not text.strip():
                raise ApiError(422, {"error": "Validation failed: Text can't be blank"})
            if server_length(text, status.spoiler_text) > self.max_characters:
                raise ApiError(422, {"error": "Validation failed: Text character limit"})
            status.text = text
            self.edited.append((status.id, text))
        return ApiResponse.json({**self._status_json(status), "edited_at": "2026-12-08T00:00Z"})

    # -- helpers ---------------------------------------------------------------

    def _new_id(self) -> str:
        self._next += 1
        return str(self._next)

    def _account(self) -> dict[str, Any]:
        return {
            "id": self.account_id,
            "username": self.username,
            "acct": self.username,
            "display_name": "Mairie",
            "url": f"https://{self.domain}/@{self.username}",
            "created_at": "2023-01-01T00:00:00.000Z",
        }

    def _status_json(self, status: Status) -> dict[str, Any]:
        return {
            "id": status.id,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(status.created)),
            "uri": f"https://{self.domain}/users/{self.username}/statuses/{status.id}",
            "url": f"https://{self.domain}/@{self.username}/{status.id}",
            "content": _to_html(status.text),
            "spoiler_text": status.spoiler_text,
            "visibility": status.visibility,
            "language": status.language,
            "sensitive": bool(status.spoiler_text),
            "media_attachments": [_public_media(self.media[m]) for m in status.media_ids],
            "account": self._account(),
            "card": None,
        }


def _public_media(media: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in media.items() if k not in ("content_type", "size")}


def _to_html(text: str) -> str:
    """Roughly Mastodon's formatting: paragraphs, line breaks, links with shortened text."""
    out: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group().rstrip(_URL_TRAILING)
        out.append(html.escape(text[position : match.start()], quote=False))
        shown = html.escape(url.split("://", 1)[1][:30], quote=False)
        out.append(f'<a href="{html.escape(url)}" rel="nofollow noopener">{shown}</a>')
        position = match.start() + len(url)
    out.append(html.escape(text[position:], quote=False))
    body = "".join(out)
    return "".join("<p>" + block.replace("\n", "<br />") + "</p>" for block in body.split("\n\n"))


def _multipart(request: ApiRequest) -> dict[str, tuple[str, bytes]]:
    """The parts of a multipart/form-data body: name -> (content type, bytes)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(422, {"error": "expected multipart/form-data"})
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
    )
    parts: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            parts[name] = (
                part.get_content_type(),
                payload if isinstance(payload, bytes) else b"",
            )
    return parts
