"""A Bluesky PDS on 127.0.0.1 speaking the XRPC methods autoposter uses.

What it reproduces, as @atproto/pds 0.5 answers (checked against the real one,
see tests/test_bluesky_pds.py):

- ``com.atproto.server.createSession``: 401 ``AuthenticationRequired`` "Invalid
  identifier or password"; counted (``sessions_created``); optionally limited
  like bsky.social (``session_limit``): 429 ``RateLimitExceeded`` with the
  ``ratelimit-*`` headers;
- access tokens are JWTs with an expiry; an unknown token answers 400
  ``InvalidToken``, an expired one 400 ``ExpiredToken``;
  ``com.atproto.server.refreshSession`` takes the refresh token;
- ``com.atproto.repo.createRecord``: the record key must be a TID, the record
  an ``app.bsky.feed.post`` whose text has at most 300 graphemes and 3000 bytes
  (400 ``InvalidRequest`` "grapheme too big"), facets inside the text, embeds
  (external card, images with ``alt``) whose blobs were uploaded, are images and
  weigh at most 1,000,000 bytes; an existing key answers 500
  ``InternalServerError``, as the PDS does;
- ``com.atproto.repo.getRecord``: 400 ``RecordNotFound`` when absent;
- ``com.atproto.repo.uploadBlob``: the raw body, typed by its Content-Type.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import regex

from tests.fakes.apiserver import ApiError, ApiRequest, ApiResponse, ApiServer

__all__ = ["APP_PASSWORD", "DID", "HANDLE", "FakeBluesky"]

HANDLE = "mairie.bsky.social"
DID = "did:plc:mairie5exempleville0000"
APP_PASSWORD = "fake-bsky-app-pass"
_TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
_GRAPHEME = regex.compile(r"\X")
_XRPC = "/xrpc/"


def cid_for(data: bytes, codec: int) -> str:
    """A CIDv1 (sha2-256) in base32: ``bafyrei...`` for records, ``bafkrei...`` for blobs."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode("ascii").lower().rstrip("=")


def _jwt(payload: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    signature = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"{part({'alg': 'HS256', 'typ': 'at+jwt'})}.{part(payload)}.{signature}"


def _invalid(message: str) -> ApiError:
    return ApiError(400, {"error": "InvalidRequest", "message": message})


@dataclass
class StoredRecord:
    rkey: str
    value: dict[str, Any]
    cid: str


class FakeBluesky(ApiServer):
    """See the module documentation. ``access_ttl`` and ``refresh_ttl`` are in seconds."""

    def __init__(
        self,
        *,
        handle: str = HANDLE,
        did: str = DID,
        password: str = APP_PASSWORD,
        access_ttl: int = 7200,
        refresh_ttl: int = 90 * 86400,
    ) -> None:
        super().__init__()
        self.handle = handle
        self.did = did
        self.password = password
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.session_limit: int | None = None
        self.sessions_created = 0
        self.sessions_refreshed = 0
        self.records: dict[str, StoredRecord] = {}
        self.blobs: dict[str, tuple[str, int]] = {}  # cid -> (mime type, size)
        self.deleted: list[str] = []  # record keys deleted, in order
        self._access: dict[str, float] = {}  # token -> expiry
        self._refresh: dict[str, float] = {}
        self._data_lock = threading.Lock()
        for method, name, handler in (
            ("POST", "com.atproto.server.createSession", self.create_session),
            ("POST", "com.atproto.server.refreshSession", self.refresh_session),
            ("GET", "com.atproto.server.getSession", self.get_session),
            ("POST", "com.atproto.repo.createRecord", self.create_record),
            ("GET", "com.atproto.repo.getRecord", self.get_record),
            ("POST", "com.atproto.repo.deleteRecord", self.delete_record),
            ("POST", "com.atproto.repo.uploadBlob", self.upload_blob),
        ):
            self.route(method, re.escape(_XRPC + name), handler)

    def reset(self) -> None:
        """Forget records, blobs, sessions and requests (tests share one server)."""
        with self._lock, self._data_lock:
            self.requests.clear()
            self._faults.clear()
            self.records.clear()
            self.deleted.clear()
            self.blobs.clear()
            self._access.clear()
            self._refresh.clear()
            self.sessions_created = self.sessions_refreshed = 0
            self.session_limit = None
            self.access_ttl, self.refresh_ttl = 7200, 90 * 86400

    def revoke_sessions(self) -> None:
        """Every session is refused from now on, as after a password change."""
        with self._data_lock:
            self._access.clear()
            self._refresh.clear()

    # -- sessions --------------------------------------------------------------

    def _issue(self) -> dict[str, Any]:
        now = int(time.time())
        access = _jwt(
            {
                "scope": "com.atproto.appPass",
                "sub": self.did,
                "iat": now,
                "exp": now + self.access_ttl,
            }
        )
        refresh = _jwt(
            {
                "scope": "com.atproto.refresh",
                "sub": self.did,
                "iat": now,
                "exp": now + self.refresh_ttl,
                "jti": secrets.token_hex(8),
            }
        )
        self._access[access] = now + self.access_ttl
        self._refresh[refresh] = now + self.refresh_ttl
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.handle,
            "did": self.did,
            "active": True,
        }

    def create_session(self, request: ApiRequest) -> ApiResponse:
        body = request.json() or {}
        with self._data_lock:
            if self.session_limit is not None and self.sessions_created >= self.session_limit:
                reset = int(time.time()) + 300
                raise ApiError(
                    429,
                    {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                    {
                        "ratelimit-limit": str(self.session_limit),
                        "ratelimit-remaining": "0",
                        "ratelimit-reset": str(reset),
                        "ratelimit-policy": f"{self.session_limit};w=300",
                    },
                )
            if (
                body.get("identifier") not in (self.handle, self.did)
                or body.get("password") != self.password
            ):
                raise ApiError(
                    401,
                    {
                        "error": "AuthenticationRequired",
                        "message": "Invalid identifier or password",
                    },
                )
            self.sessions_created += 1
            return ApiResponse.json(self._issue())

    def refresh_session(self, request: ApiRequest) -> ApiResponse:
        token = request.bearer() or ""
        with self._data_lock:
            self._check(token, self._refresh)
            del self._refresh[token]
            self.sessions_refreshed += 1
            return ApiResponse.json(self._issue())

    def get_session(self, request: ApiRequest) -> ApiResponse:
        self._authorized(request)
        return ApiResponse.json({"handle": self.handle, "did": self.did, "active": True})

    def _check(self, token: str, tokens: dict[str, float]) -> None:
        expiry = tokens.get(token)
        if expiry is None:
            raise ApiError(400, {"error": "InvalidToken", "message": "Token could not be verified"})
        if expiry < time.time():
            raise ApiError(400, {"error": "ExpiredToken", "message": "Token has expired"})

    def _authorized(self, request: ApiRequest) -> None:
        token = request.bearer()
        if token is None:
            raise ApiError(
                401, {"error": "AuthenticationRequired", "message": "Authentication Required"}
            )
        with self._data_lock:
            self._check(token, self._access)

    # -- records and blobs -----------------------------------------------------

    def create_record(self, request: ApiRequest) -> ApiResponse:
        self._authorized(request)
        body = request.json() or {}
        if body.get("repo") not in (self.did, self.handle):
            raise _invalid(f"Could not find repo: {body.get('repo')}")
        collection = body.get("collection")
        if collection != "app.bsky.feed.post":
            raise _invalid(f"Invalid collection: {collection}")
        rkey = body.get("rkey")
        if rkey is None:
            rkey = "3" + secrets.token_hex(6)[:12].translate(str.maketrans("01", "ab"))
        if not isinstance(rkey, str) or not _TID.fullmatch(rkey):
            raise _invalid(f"Invalid record key: {rkey}")
        record = body.get("record")
        if not isinstance(record, dict) or record.get("$type") != collection:
            raise _invalid("Invalid $type: must be app.bsky.feed.post")
        self._validate_post(record)
        value = json.dumps(record, sort_keys=True).encode()
        with self._data_lock:
            if rkey in self.records:
                # @atproto/pds 0.5: the storage's unique constraint, not a tidy error
                raise ApiError(
                    500, {"error": "InternalServerError", "message": "Internal Server Error"}
                )
            stored = StoredRecord(rkey, record, cid_for(value, 0x71))
            self.records[rkey] = stored
        return ApiResponse.json(
            {
                "uri": f"at://{self.did}/{collection}/{rkey}",
                "cid": stored.cid,
                "commit": {"cid": cid_for(value + b"commit", 0x71), "rev": rkey},
                "validationStatus": "valid",
            }
        )

    def delete_record(self, request: ApiRequest) -> ApiResponse:
        """``com.atproto.repo.deleteRecord``: a commit, also for a record that is not
        there (the PDS deletes idempotently and says nothing of it)."""
        self._authorized(request)
        body = request.json() or {}
        if body.get("repo") not in (self.did, self.handle):
            raise _invalid(f"Could not find repo: {body.get('repo')}")
        if body.get("collection") != "app.bsky.feed.post":
            raise _invalid(f"Invalid collection: {body.get('collection')}")
        rkey = body.get("rkey")
        with self._data_lock:
            if isinstance(rkey, str) and self.records.pop(rkey, None) is not None:
                self.deleted.append(rkey)
        return ApiResponse.json({"commit": {"cid": cid_for(str(rkey).encode(), 0x71), "rev": "3"}})

    def _validate_post(self, record: dict[str, Any]) -> None:
        where = "Invalid app.bsky.feed.post record"
        text = record.get("text")
        if not isinstance(text, str):
            raise _invalid(f'{where}: Record must have the property "text"')
        count = len(_GRAPHEME.findall(text))
        if count > 300:
            raise _invalid(f"{where}: grapheme too big (maximum 300, got {count}) at $.record.text")
        size = len(text.encode("utf-8"))
        if size > 3000:
            raise _invalid(f"{where}: string too long (maximum 3000, got {size}) at $.record.text")
        if not isinstance(record.get("createdAt"), str):
            raise _invalid(f'{where}: Record must have the property "createdAt"')
        langs = record.get("langs", [])
        if not isinstance(langs, list) or len(langs) > 3:
            raise _invalid(f"{where}: langs must be an array of at most 3 languages")
        for facet in record.get("facets") or []:
            index = facet.get("index", {})
            start, end = index.get("byteStart"), index.get("byteEnd")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= size):
                raise _invalid(f"{where}: facet byte range {start}..{end} outside the text")
            for feature in facet.get("features", []):
                kind = feature.get("$type")
                if kind == "app.bsky.richtext.facet#link" and not str(
                    feature.get("uri", "")
                ).startswith(("http://", "https://")):
                    raise _invalid(f"{where}: a link facet needs a uri")
                if kind == "app.bsky.richtext.facet#tag" and not feature.get("tag"):
                    raise _invalid(f"{where}: a tag facet needs a tag")
        embed = record.get("embed")
        if embed is None:
            return
        if embed.get("$type") == "app.bsky.embed.external":
            external = embed.get("external", {})
            for field in ("uri", "title", "description"):
                if not isinstance(external.get(field), str):
                    raise _invalid(f'{where}: external must have the property "{field}"')
            if external.get("thumb") is not None:
                self._check_blob(external["thumb"], where)
        elif embed.get("$type") == "app.bsky.embed.images":
            images = embed.get("images", [])
            if not 1 <= len(images) <= 4:
                raise _invalid(f"{where}: embed must have 1 to 4 images")
            for image in images:
                if not isinstance(image.get("alt"), str):
                    raise _invalid(f'{where}: image must have the property "alt"')
                self._check_blob(image.get("image"), where)
        else:
            raise _invalid(f"{where}: unexpected embed {embed.get('$type')}")

    def _check_blob(self, blob: Any, where: str) -> None:
        if not isinstance(blob, dict) or blob.get("$type") != "blob":
            raise _invalid(f"{where}: expected a blob")
        cid = (blob.get("ref") or {}).get("$link")
        with self._data_lock:
            known = self.blobs.get(cid)
        if known is None:
            raise _invalid(f"Could not find blob: {cid}")
        mime, size = known
        if not mime.startswith("image/"):
            raise _invalid(f"{where}: wrong type of file. It is {mime} but it must match image/*")
        if size > 1_000_000:
            raise _invalid(
                f"{where}: this file is too large. It is {size} bytes "
                "but the maximum size is 1000000 bytes"
            )

    def get_record(self, request: ApiRequest) -> ApiResponse:
        repo = request.query.get("repo", [""])[0]
        collection = request.query.get("collection", [""])[0]
        rkey = request.query.get("rkey", [""])[0]
        if repo not in (self.did, self.handle):
            raise _invalid("Could not locate record")
        with self._data_lock:
            stored = self.records.get(rkey) if collection == "app.bsky.feed.post" else None
        uri = f"at://{self.did}/{collection}/{rkey}"
        if stored is None:
            raise ApiError(
                400, {"error": "RecordNotFound", "message": f"Could not locate record: {uri}"}
            )
        return ApiResponse.json({"uri": uri, "cid": stored.cid, "value": stored.value})

    def upload_blob(self, request: ApiRequest) -> ApiResponse:
        self._authorized(request)
        mime = request.headers.get("content-type", "application/octet-stream")
        if len(request.body) > 5 * 1024 * 1024:
            raise ApiError(413, {"error": "PayloadTooLarge", "message": "request entity too large"})
        cid = cid_for(request.body, 0x55)
        with self._data_lock:
            self.blobs[cid] = (mime, len(request.body))
        return ApiResponse.json(
            {
                "blob": {
                    "$type": "blob",
                    "ref": {"$link": cid},
                    "mimeType": mime,
                    "size": len(request.body),
                }
            }
        )
