"""A base for test doubles of social networks: a small HTTP server on 127.0.0.1.

A network's double subclasses ``ApiServer`` and registers routes that speak
that network's documented API (paths, methods, auth, bodies), validating what
it receives the way the real service does and recording it. Faults are
injected per route for the next requests::

    class FakeMastodon(ApiServer):
        def __init__(self) -> None:
            super().__init__()
            self.route("POST", r"/api/v1/statuses", self.post_status)

        def post_status(self, request: ApiRequest) -> ApiResponse:
            request.require_bearer("FAKE-TOKEN")
            ...
            return ApiResponse.json({"id": "1", "url": "..."})

    with FakeMastodon() as server:
        server.fail("POST", r"/api/v1/statuses", Fault(status=503))
        ...

A fault can also let the request through and then drop the connection
(``after=True``): the network did the work, the client never heard back, the
case a crash-safe sender must survive.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["ApiError", "ApiRequest", "ApiResponse", "ApiServer", "Fault"]

MAX_DELAY = 30.0


@dataclass(frozen=True, slots=True)
class ApiRequest:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    match: re.Match[str] | None = None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def form(self) -> dict[str, list[str]]:
        """An application/x-www-form-urlencoded body (or a query string)."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)

    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:] if value.lower().startswith("bearer ") else None

    def require_bearer(self, *tokens: str) -> None:
        """Answer 401 as the network would when the token is missing or not one of ``tokens``."""
        if self.bearer() not in tokens:
            raise ApiError(401, {"error": "The access token is invalid"})


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> ApiResponse:
        return cls(
            status,
            json.dumps(data).encode("utf-8"),
            {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )


class ApiError(Exception):
    """Raised by a handler to answer an error the way the network does."""

    def __init__(self, status: int, data: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.response = ApiResponse.json(data, status, headers)


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do instead of (or after) answering normally.

    ``status``/``body``/``headers``: answer this instead. ``delay``: sleep first
    (bounded; a client with a shorter timeout sees a timeout). ``drop``: close
    the connection without answering. ``after``: run the real handler first
    (the post exists), then drop the connection. ``hold``: run the real handler,
    then wait this long before answering (the post exists; a client that times
    out, or dies, meanwhile never learns it).
    """

    status: int | None = None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    after: bool = False
    hold: float = 0.0


Handler = Callable[[ApiRequest], ApiResponse]


class ApiServer:
    """A threaded HTTP server on 127.0.0.1 with regex routes; see the module doc."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: dict[tuple[str, str], list[Fault]] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self.requests: list[ApiRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set up ---------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern + r"\Z"), handler))

    def fail(self, method: str, pattern: str, *faults: Fault) -> None:
        """The next ``len(faults)`` requests matching (method, pattern) get these faults."""
        with self._lock:
            self._faults.setdefault((method.upper(), pattern), []).extend(faults)

    # -- life cycle -----------------------------------------------------------

    def start(self) -> ApiServer:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                server._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def requests_to(self, method: str, pattern: str) -> list[ApiRequest]:
        compiled = re.compile(pattern + r"\Z")
        with self._lock:
            return [
                r for r in self.requests if r.method == method.upper() and compiled.match(r.path)
            ]

    # -- serving --------------------------------------------------------------

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        split = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in http.headers.items()}
        method = http.command.upper()
        found = next(
            (
                (handler, match)
                for route_method, pattern, handler in self._routes
                if route_method == method and (match := pattern.match(split.path))
            ),
            None,
        )
        if found is None:
            self._send(http, ApiResponse.json({"error": "Record not found"}, 404))
            return
        handler, match = found
        request = ApiRequest(
            method, split.path, parse_qs(split.query, keep_blank_values=True), headers, body, match
        )
        with self._lock:
            self.requests.append(request)
            fault = self._next_fault(method, split.path)
        if fault is not None and fault.delay:
            self._stop.wait(min(fault.delay, MAX_DELAY))
        if fault is not None and not fault.after:
            if fault.drop:
                http.close_connection = True
                return
            if fault.status is not None:
                data = fault.body if fault.body is not None else {"error": f"HTTP {fault.status}"}
                self._send(http, ApiResponse.json(data, fault.status, fault.headers))
                return
        try:
            response = handler(request)
        except ApiError as e:
            response = e.response
        if fault is not None and fault.hold:
            self._stop.wait(min(fault.hold, MAX_DELAY))
        if fault is not None and fault.after:
            http.close_connection = True
            return
        self._send(http, response)

    def _next_fault(self, method: str, path: str) -> Fault | None:
        for (fault_method, pattern), queue in self._faults.items():
            if fault_method == method and queue and re.compile(pattern + r"\Z").match(path):
                return queue.pop(0)
        return None

    @staticmethod
    def _send(http: BaseHTTPRequestHandler, response: ApiResponse) -> None:
        http.send_response(response.status)
        headers = {"Content-Type": "application/json; charset=utf-8", **response.headers}
        for name, value in headers.items():
            http.send_header(name, value)
        http.send_header("Content-Length", str(len(response.body)))
        try:
            http.end_headers()
            http.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up waiting (a timeout we caused on purpose).
            http.close_connection = True


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` until true or ``timeout`` seconds pass; bounded by construction."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
