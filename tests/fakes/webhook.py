"""A webhook receiver on 127.0.0.1, shaped like Slack's and Discord's incoming hooks.

``POST /hooks/<token>`` (the token in the path, as Slack and Discord put it)
takes a JSON body, checks ``X-Autoposter-Signature`` against the HMAC-SHA256
of the exact body bytes with the shared secret (401 if wrong or missing),
remembers ``Idempotency-Key`` (a key seen before is not delivered twice) and
answers ``{"id": ...}`` like Discord with ``?wait=true``, or ``ok`` as text
like Slack when ``plain`` is set.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
from typing import Any

from tests.fakes.apiserver import ApiError, ApiRequest, ApiResponse, ApiServer

HOOK_TOKEN = "T000FAKE/B000FAKE/fakeHookSecretInPath0123"
SECRET = "fake-shared-hmac-secret-0123456789"


class FakeWebhook(ApiServer):
    def __init__(self, *, secret: str | None = SECRET, plain: bool = False) -> None:
        super().__init__()
        self.secret = secret
        self.plain = plain
        self.received: list[dict[str, Any]] = []
        self.keys: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._rlock = threading.Lock()
        self.route("POST", r"/hooks/(?P<token>.+)", self.receive)

    def reset(self) -> None:
        """Forget what was received and any fault not yet used (a server shared by tests)."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
        self.received.clear()
        self.keys.clear()

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hooks/{HOOK_TOKEN}"

    def receive(self, request: ApiRequest) -> ApiResponse:
        assert request.match is not None
        if request.match["token"] != HOOK_TOKEN:
            raise ApiError(404, {"message": "Unknown Webhook", "code": 10015})
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise ApiError(400, {"message": "Cannot send an empty message", "code": 50006})
        if self.secret is not None:
            expected = (
                "sha256=" + hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
            )
            given = request.headers.get("x-autoposter-signature", "")
            if not hmac.compare_digest(given, expected):
                raise ApiError(401, {"message": "bad signature"})
        try:
            data = json.loads(request.body)
        except ValueError:
            raise ApiError(400, {"message": "The request body contains invalid JSON."}) from None
        key = request.headers.get("idempotency-key", "")
        with self._rlock:
            if key and key in self.keys:
                message_id = self.keys[key]
            else:
                message_id = str(next(self._ids))
                self.received.append({"id": message_id, "data": data, "key": key,
                                      "headers": dict(request.headers)})  # fmt: skip
                if key:
                    self.keys[key] = message_id
        if self.plain:
            return ApiResponse(200, b"ok", {"Content-Type": "text/plain"})
        return ApiResponse.json({"id": message_id, "channel_id": "42"})
