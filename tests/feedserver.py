"""A feed server on 127.0.0.1 for tests and benchmarks (not a test module).

Routes are set at run time and can misbehave on purpose: sleep, trickle,
stream a huge generated body, redirect, gzip, hang up without answering, or
answer any status. Every request is recorded, and in-flight requests are
counted per path, so tests assert on what the client actually did::

    with FeedServer() as server:
        server.set("/feed.xml", b"<rss>...</rss>")
        server.redirect("/old", "/feed.xml")
        fetcher.fetch(server.url("/old"))
        assert server.requests_to("/feed.xml")[0].headers["user-agent"] == ...

Sleeps and trickles wait on a stop event, so ``stop()`` is fast even while a
handler is in the middle of one.
"""

from __future__ import annotations

import contextlib
import gzip as gzip_module
import hashlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import cast
from urllib.parse import urlsplit

__all__ = ["MAX_DELAY", "FeedServer", "Request", "Route"]

#: Longest sleep a route may ask for, in seconds, so no test can hang for long.
MAX_DELAY = 30.0
_CHUNK = 64 * 1024
_FILL_LINE = b"<!-- autoposter feedserver filler -->\n"
_FILLER = (_FILL_LINE * (_CHUNK // len(_FILL_LINE) + 1))[:_CHUNK]


@dataclass(frozen=True, slots=True)
class Route:
    """How one path answers. Build it with ``FeedServer.set`` or ``FeedServer.redirect``."""

    body: bytes = b""
    content_type: str | None = "application/rss+xml"
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    etag: bool = True
    last_modified: str | None = None
    validators: bool = True
    delay: float = 0.0
    trickle: tuple[int, float] | None = None
    size: int | None = None
    content_length: bool = True
    gzip: bool = False
    drop: bool = False
    close: bool = False

    @property
    def etag_value(self) -> str:
        return '"' + hashlib.sha1(self.body, usedforsecurity=False).hexdigest() + '"'


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the server received it; header names are lower-case."""

    method: str
    path: str
    headers: Mapping[str, str]
    at: float


@dataclass(slots=True)
class _PathStats:
    in_flight: int = 0
    max_in_flight: int = 0
    bytes_sent: int = 0


class FeedServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 and an ephemeral port; see the module doc."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._routes: dict[str, Route] = {}
        self._requests: list[Request] = []
        self._stats: dict[str, _PathStats] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------

    def start(self) -> FeedServer:
        if self._httpd is not None:
            raise RuntimeError("already started")
        self._stop.clear()
        self._httpd = _Server((self._host, 0), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"feedserver:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop promptly: wake sleeping handlers, hang up open connections, join."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stop.set()
        httpd.shutdown()
        httpd.hang_up_all()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def url(self, path: str) -> str:
        """The full URL of ``path`` on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # -- routes -----------------------------------------------------------------

    def set(
        self,
        path: str,
        body: bytes = b"",
        *,
        content_type: str | None = "application/rss+xml",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        etag: bool = True,
        last_modified: str | None = None,
        validators: bool = True,
        delay: float = 0.0,
        trickle: tuple[int, float] | None = None,
        size: int | None = None,
        content_length: bool = True,
        gzip: bool = False,
        drop: bool = False,
        close: bool = False,
    ) -> Route:
        """Make ``path`` answer as described; replaces any earlier route for it.

        - ``etag``: send ETag (quoted sha1 of ``body``) and answer a matching
          If-None-Match with 304. ``last_modified``: send it and answer an
          If-Modified-Since at or after it with 304. ``validators=False``
          still sends both headers but always answers in full.
        - ``delay``: seconds to sleep before answering (at most ``MAX_DELAY``).
        - ``trickle=(n, seconds)``: send the body ``n`` bytes at a time with a
          pause after each piece.
        - ``size``: instead of ``body``, stream this many generated bytes, in
          64 KiB pieces, never holding them in memory.
        - ``content_length=False``: chunked transfer encoding, no length.
        - ``gzip``: compress ``body`` and send ``Content-Encoding: gzip``.
        - ``drop``: close the connection without answering.
        - ``close``: close the connection after answering (``Connection: close``);
          with a lying ``Content-Length`` this makes a truncated body.
        - ``headers``: extra headers, overriding the defaults (a lying
          ``Content-Length`` included).
        """
        if not 0 <= delay <= MAX_DELAY:
            raise ValueError(f"delay must be between 0 and {MAX_DELAY} s")
        if trickle is not None and (trickle[0] < 1 or not 0 <= trickle[1] <= MAX_DELAY):
            raise ValueError("trickle must be (bytes >= 1, 0 <= seconds <= MAX_DELAY)")
        if size is not None and gzip:
            raise ValueError("size and gzip cannot be combined")
        route = Route(
            body=gzip_module.compress(body, mtime=0) if gzip else body,
            content_type=content_type,
            status=status,
            headers=dict(headers or {}),
            etag=etag,
            last_modified=last_modified,
            validators=validators,
            delay=delay,
            trickle=trickle,
            size=size,
            content_length=content_length,
            gzip=gzip,
            drop=drop,
            close=close,
        )
        with self._lock:
            self._routes[_path_only(path)] = route
        return route

    def redirect(self, path: str, location: str, *, status: int = 302) -> Route:
        """Make ``path`` redirect to ``location`` (a path, or any absolute URL)."""
        return self.set(
            path,
            b"",
            content_type=None,
            status=status,
            headers={"Location": location},
            etag=False,
        )

    # -- what happened ----------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[Request]:
        """The requests whose path (query ignored) is ``path``."""
        wanted = _path_only(path)
        return [r for r in self.requests if _path_only(r.path) == wanted]

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far: a client keeping its connection alive adds none."""
        return self._httpd.accepted if self._httpd is not None else 0

    def max_in_flight(self, path: str) -> int:
        """The most requests to ``path`` that were being answered at the same time."""
        with self._lock:
            stats = self._stats.get(_path_only(path))
            return stats.max_in_flight if stats else 0

    def bytes_sent(self, path: str) -> int:
        """Body bytes written for ``path`` so far (before any client hung up)."""
        with self._lock:
            stats = self._stats.get(_path_only(path))
            return stats.bytes_sent if stats else 0

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being answered; False if that took over ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while any(s.in_flight for s in self._stats.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def reset(self) -> None:
        """Forget routes, requests and counters."""
        with self._lock:
            self._routes.clear()
            self._requests.clear()
            self._stats.clear()

    # -- serving ----------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        path = _path_only(handler.path)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self._requests.append(Request(handler.command, handler.path, headers, time.time()))
            route = self._routes.get(path)
            stats = self._stats.setdefault(path, _PathStats())
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            self._answer(handler, route, headers, stats)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            handler.close_connection = True  # the client hung up: that is its right
        finally:
            with self._idle:
                stats.in_flight -= 1
                self._idle.notify_all()

    def _answer(
        self,
        handler: _Handler,
        route: Route | None,
        request_headers: Mapping[str, str],
        stats: _PathStats,
    ) -> None:
        if route is None:
            route = Route(body=b"not found\n", content_type="text/plain", status=404, etag=False)
        if route.delay and self._stop.wait(route.delay):
            handler.close_connection = True
            return
        if route.drop:
            handler.close_connection = True
            return
        out: dict[str, str] = {}
        if route.etag:
            out["ETag"] = route.etag_value
        if route.last_modified:
            out["Last-Modified"] = route.last_modified
        if route.validators and _not_modified(route, request_headers):
            handler.send_response(304)
            _send_headers(handler, out, route.headers)
            return
        if route.content_type:
            out["Content-Type"] = route.content_type
        if route.close:
            out["Connection"] = "close"
            handler.close_connection = True
        if route.gzip:
            out["Content-Encoding"] = "gzip"
        length = route.size if route.size is not None else len(route.body)
        if route.content_length:
            out["Content-Length"] = str(length)
        else:
            out["Transfer-Encoding"] = "chunked"
        handler.send_response(route.status)
        _send_headers(handler, out, route.headers)
        pause = route.trickle[1] if route.trickle else 0.0
        for piece in _pieces(route):
            if self._stop.is_set():
                handler.close_connection = True
                return
            if route.content_length:
                handler.wfile.write(piece)
            else:
                handler.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
            with self._lock:
                stats.bytes_sent += len(piece)
            if pause and self._stop.wait(pause):
                handler.close_connection = True
                return
        if not route.content_length:
            handler.wfile.write(b"0\r\n\r\n")


def _path_only(path: str) -> str:
    return urlsplit(path).path or "/"


def _pieces(route: Route) -> Iterator[bytes]:
    if route.size is not None:
        left = route.size
        step = min(_CHUNK, route.trickle[0]) if route.trickle else _CHUNK
        while left > 0:
            n = min(step, left)
            yield _FILLER[:n]
            left -= n
        return
    step = route.trickle[0] if route.trickle else max(len(route.body), 1)
    for i in range(0, len(route.body), step):
        yield route.body[i : i + step]


def _not_modified(route: Route, request_headers: Mapping[str, str]) -> bool:
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        if not route.etag:
            return False
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or route.etag_value in tags
    since = request_headers.get("if-modified-since")
    if since and route.last_modified:
        try:
            return parsedate_to_datetime(since) >= parsedate_to_datetime(route.last_modified)
        except (TypeError, ValueError):
            return False
    return False


def _send_headers(
    handler: BaseHTTPRequestHandler, defaults: Mapping[str, str], extra: Mapping[str, str]
) -> None:
    overridden = {k.lower() for k in extra}
    for name, value in defaults.items():
        if name.lower() not in overridden:
            handler.send_header(name, value)
    for name, value in extra.items():
        handler.send_header(name, value)
    handler.end_headers()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive connection is closed after this

    def setup(self) -> None:
        super().setup()
        cast(_Server, self.server).track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            cast(_Server, self.server).track(self.connection, add=False)

    def do_GET(self) -> None:
        cast(_Server, self.server).feed._serve(self)

    def log_message(self, format: str, *args: object) -> None:
        pass  # tests read ``FeedServer.requests``, not stderr


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], feed: FeedServer) -> None:
        self.feed = feed
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.accepted = 0
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self.accepted += 1
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def hang_up_all(self) -> None:
        """Shut down every open connection, waking handlers blocked reading a next request."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
