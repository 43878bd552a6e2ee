"""A double of X's API v2 on 127.0.0.1: posts, the user's own timeline, v2 media upload.

Every request must carry an OAuth 1.0a ``Authorization: OAuth ...`` header
whose HMAC-SHA1 signature is checked with the fake consumer and token
secrets, as X does (401 otherwise). Texts are counted with twitter-text as X
counts them (400 over 280), the same text twice is refused with X's
duplicate-content 403, and the timeline gives texts back as X does: URLs
rewritten to t.co, ``& < >`` escaped.
"""

from __future__ import annotations

import base64
import html
import itertools
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import twitter_text
from oauthlib.oauth1.rfc5849 import signature, utils

from tests.fakes.apiserver import ApiError, ApiRequest, ApiResponse, ApiServer

CONSUMER_KEY = "fake-consumer-key"
CONSUMER_SECRET = "fake-consumer-secret-0123456789"
ACCESS_TOKEN = "1001-fake-access-token"
ACCESS_TOKEN_SECRET = "fake-access-token-secret-9876543210"
USER_ID = "1001"
USERNAME = "ville_exemple"

DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
TOO_LONG = (
    "Your Tweet text is too long. For more information on how X determines text length, "
    "see https://github.com/twitter/twitter-text."
)


def _problem(status: int, title: str, detail: str) -> ApiError:
    return ApiError(
        status, {"title": title, "detail": detail, "type": "about:blank", "status": status}
    )


@dataclass
class Upload:
    media_type: str
    total_bytes: int
    data: bytearray = field(default_factory=bytearray)
    finalized: bool = False
    alt: str | None = None


class FakeX(ApiServer):
    def __init__(self) -> None:
        super().__init__()
        self.tweets: list[dict[str, Any]] = []
        self.uploads: dict[str, Upload] = {}
        self._ids = itertools.count(1_800_000_000_000_000_001)
        self._tlock = threading.Lock()
        self.route("POST", r"/2/tweets", self.create_tweet)
        self.route("GET", r"/2/users/me", self.me)
        self.route("GET", r"/2/users/(?P<id>\d+)/tweets", self.user_tweets)
        self.route("POST", r"/2/media/upload/initialize", self.media_init)
        self.route("POST", r"/2/media/upload/(?P<id>\d+)/append", self.media_append)
        self.route("POST", r"/2/media/upload/(?P<id>\d+)/finalize", self.media_finalize)
        self.route("POST", r"/2/media/metadata", self.media_metadata)
        self.route("DELETE", r"/2/tweets/(?P<id>\d+)", self.delete_tweet)
        self.deleted: list[str] = []  # ids of the posts deleted, in order

    def reset(self) -> None:
        """Forget what was received and any fault not yet used (a server shared by tests)."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
        self.tweets.clear()
        self.uploads.clear()
        self.deleted.clear()

    # -- auth -----------------------------------------------------------------------------

    def require_oauth1(self, request: ApiRequest) -> None:
        header = request.headers.get("authorization", "")
        if not header.startswith("OAuth "):
            raise _problem(401, "Unauthorized", "Unauthorized")
        params = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(header)}
        for name in ("oauth_consumer_key", "oauth_token", "oauth_signature", "oauth_nonce"):
            if not params.get(name):
                raise _problem(401, "Unauthorized", f"missing {name}")
        if params.get("oauth_signature_method") != "HMAC-SHA1":
            raise _problem(401, "Unauthorized", "signature method must be HMAC-SHA1")
        if params["oauth_consumer_key"] != CONSUMER_KEY or params["oauth_token"] != ACCESS_TOKEN:
            raise _problem(401, "Unauthorized", "Unauthorized")
        query = urlencode([(k, v) for k, vs in request.query.items() for v in vs])
        content_type = request.headers.get("content-type", "")
        body = (
            request.body.decode()
            if content_type.startswith("application/x-www-form-urlencoded")
            else None
        )
        collected = signature.collect_parameters(
            uri_query=query, body=body, headers={"Authorization": header}
        )
        base = signature.signature_base_string(
            request.method,
            signature.base_string_uri(f"http://{request.headers['host']}{request.path}"),
            signature.normalize_parameters(collected),
        )
        expected = signature.sign_hmac_sha1_with_client(
            base,
            SimpleNamespace(
                client_secret=CONSUMER_SECRET, resource_owner_secret=ACCESS_TOKEN_SECRET
            ),
        )
        if params["oauth_signature"] != expected:
            raise _problem(401, "Unauthorized", "Could not authenticate you")

    # -- tweets ---------------------------------------------------------------------------

    def create_tweet(self, request: ApiRequest) -> ApiResponse:
        self.require_oauth1(request)
        body = request.json() or {}
        text = body.get("text")
        media_ids = (body.get("media") or {}).get("media_ids") or []
        if not isinstance(text, str) or (not text.strip() and not media_ids):
            raise _problem(400, "Invalid Request", "One or more parameters are invalid.")
        if twitter_text.parse_tweet(text).weightedLength > 280:
            raise _problem(400, "Invalid Request", TOO_LONG)
        for media_id in media_ids:
            upload = self.uploads.get(str(media_id))
            if upload is None or not upload.finalized:
                raise _problem(400, "Invalid Request", f"Your media IDs are invalid: {media_id}")
        with self._tlock:
            if any(t["text"] == text for t in self.tweets):
                raise _problem(403, "Forbidden", DUPLICATE)
            tweet_id = str(next(self._ids))
            self.tweets.append({"id": tweet_id, "text": text, "media_ids": list(media_ids)})
        data = {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}
        return ApiResponse.json({"data": data}, 201)

    def delete_tweet(self, request: ApiRequest) -> ApiResponse:
        """``DELETE /2/tweets/:id``: ``{"data": {"deleted": true}}``. For a post that is not
        there the documentation shows nothing; this double answers ``deleted: false``."""
        self.require_oauth1(request)
        assert request.match is not None
        with self._tlock:
            tweet = next((t for t in self.tweets if t["id"] == request.match["id"]), None)
            if tweet is not None:
                self.tweets.remove(tweet)
                self.deleted.append(tweet["id"])
        return ApiResponse.json({"data": {"deleted": tweet is not None}})

    def me(self, request: ApiRequest) -> ApiResponse:
        self.require_oauth1(request)
        return ApiResponse.json(
            {"data": {"id": USER_ID, "name": "Ville d'Exemple", "username": USERNAME}}
        )

    def user_tweets(self, request: ApiRequest) -> ApiResponse:
        self.require_oauth1(request)
        assert request.match is not None
        if request.match["id"] != USER_ID:
            raise _problem(404, "Not Found Error", "Could not find user")
        count = int(request.query.get("max_results", ["10"])[0])
        if not 5 <= count <= 100:
            raise _problem(400, "Invalid Request", "max_results must be between 5 and 100")
        fields = request.query.get("tweet.fields", [""])[0].split(",")
        with self._tlock:
            recent = list(reversed(self.tweets))[:count]
        data = []
        for tweet in recent:
            shown, urls = _as_x_shows(tweet["text"])
            entry: dict[str, Any] = {"id": tweet["id"], "text": shown}
            if "entities" in fields and urls:
                entry["entities"] = {"urls": urls}
            data.append(entry)
        return ApiResponse.json({"data": data, "meta": {"result_count": len(data)}})

    # -- media ----------------------------------------------------------------------------

    def media_init(self, request: ApiRequest) -> ApiResponse:
        self.require_oauth1(request)
        body = request.json() or {}
        if body.get("media_type") not in ("image/jpeg", "image/png", "image/gif", "image/webp"):
            raise _problem(400, "Invalid Request", "media_type is not supported")
        total = body.get("total_bytes")
        if not isinstance(total, int) or not 0 < total <= 5 * 1024 * 1024:
            raise _problem(400, "Invalid Request", "total_bytes is invalid")
        media_id = str(next(self._ids))
        self.uploads[media_id] = Upload(body["media_type"], total)
        data = {"id": media_id, "media_key": f"3_{media_id}", "expires_after_secs": 86400}
        return ApiResponse.json({"data": data})

    def _upload(self, request: ApiRequest) -> tuple[str, Upload]:
        assert request.match is not None
        media_id = request.match["id"]
        upload = self.uploads.get(media_id)
        if upload is None:
            raise _problem(400, "Invalid Request", "unknown media id")
        return media_id, upload

    def media_append(self, request: ApiRequest) -> ApiResponse:
        self.require_oauth1(request)
        _, upload = self._upload(request)
        body = request.json() or {}
        if not isinstance(body.get("segment_index"), int) or not isinstance(body.get("media"), str):
            raise _problem(400, "Invalid Request", "media and segment_index are required")
        upload.data.extend(base64.b64decode(body["media"]))
        return ApiResponse.json({"data": {"expires_at": 1}})

    def media_finalize(self, request: ApiRequest) -> ApiResponse:
        self.require_oauth1(request)
        media_id, upload = self._upload(request)
        if len(upload.data) != upload.total_bytes:
            raise _problem(400, "Invalid Request", "the uploaded size differs from total_bytes")
        upload.finalized = True
        return ApiResponse.json(
            {"data": {"id": media_id, "media_key": f"3_{media_id}", "size": upload.total_bytes}}
        )

    def media_metadata(self, request: ApiRequest) -> ApiResponse:
        self.require_oauth1(request)
        body = request.json() or {}
        upload = self.uploads.get(str(body.get("id")))
        alt = ((body.get("metadata") or {}).get("alt_text") or {}).get("text")
        if upload is None or not isinstance(alt, str) or len(alt) > 1000:
            raise _problem(400, "Invalid Request", "invalid metadata")
        upload.alt = alt
        return ApiResponse.json({"data": {"id": body["id"], "associated_metadata": {}}})


def _as_x_shows(text: str) -> tuple[str, list[dict[str, Any]]]:
    """The text as X gives it back, and its URL entities."""
    urls = []
    shown = text
    for n, found in enumerate(twitter_text.extract_urls(text)):
        short = f"https://t.co/fake{n:04d}"
        shown = shown.replace(found, short, 1)
        urls.append({"url": short, "expanded_url": found, "display_url": found[:20]})
    return html.escape(shown, quote=False), urls
