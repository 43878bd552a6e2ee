"""The health and metrics listener: ``/healthz`` and ``/metrics`` over plain HTTP.

Off unless the configuration has an ``http:`` block (``listen`` defaults to
127.0.0.1:8787, this machine only). ``/healthz`` answers 200 while the
scheduler runs (its heartbeat is recent) and the database answers, 503 with
the reason otherwise; a container's HEALTHCHECK and a monitoring probe both
read it. ``/metrics`` is Prometheus' text format (see ``autoposter.metrics``).
``/watch/<name>.atom`` is the reputation watch's recent matches, when watches
are configured (public posts and articles; no secret).

The listener runs in its own threads and reads no request body; it serves
GET and HEAD only, and nothing it answers ever holds a secret.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from autoposter import __version__, logs
from autoposter.errors import AutoposterError, ConfigError
from autoposter.metrics import Metrics
from autoposter.storage import Storage

__all__ = ["Health", "HealthServer"]

REQUEST_TIMEOUT = 10.0


class Health:
    """Whether the daemon is well: its scheduler beats, its database answers.

    ``beat()`` is called by the scheduler's heartbeat job; a heartbeat older
    than ``max_silence`` seconds means the scheduler is stuck or stopped.
    """

    def __init__(
        self,
        storage: Callable[[], Storage],
        scheduler_running: Callable[[], bool],
        *,
        max_silence: float,
    ) -> None:
        self._storage = storage
        self._scheduler_running = scheduler_running
        self.max_silence = max_silence
        self._last_beat: float | None = None

    def beat(self) -> None:
        self._last_beat = time.monotonic()

    def check(self) -> tuple[bool, dict[str, str]]:
        """(healthy, one line per check: "ok" or what is wrong)."""
        checks: dict[str, str] = {}
        if not self._scheduler_running():
            checks["scheduler"] = "not running"
        elif self._last_beat is None:
            checks["scheduler"] = "starting: no heartbeat yet"
        else:
            silence = time.monotonic() - self._last_beat
            checks["scheduler"] = (
                "ok"
                if silence <= self.max_silence
                else f"stalled: no heartbeat for {silence:.0f} s"
            )
        try:
            self._storage().ping()
            checks["database"] = "ok"
        except AutoposterError as e:
            checks["database"] = logs.redact_known(str(e))
        return all(v == "ok" for v in checks.values()), checks


class HealthServer:
    """A small threaded HTTP server; ``start()`` binds and serves, ``stop()`` ends it."""

    def __init__(
        self,
        host: str,
        port: int,
        health: Health,
        metrics: Metrics | None = None,
        *,
        watch_feed: Callable[[str], bytes | None] | None = None,
    ) -> None:
        self.health = health
        self.metrics = metrics
        self.watch_feed = watch_feed
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the configured one, or the one the system chose for 0)."""
        if self._server is None:
            return self._address[1]
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        host, port = self._address
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            server_class = type(
                "_Server",
                (ThreadingHTTPServer,),
                {"address_family": family, "daemon_threads": True, "allow_reuse_address": True},
            )
            self._server = server_class((host, port), _handler_for(self))
        except OSError as e:
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            raise ConfigError(
                "http.listen", f"cannot listen on {where}: {e.strerror or e}"
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name="autoposter-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _handler_for(owner: HealthServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        server_version = f"autoposter/{__version__}"
        sys_version = ""
        timeout = REQUEST_TIMEOUT

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                healthy, checks = owner.health.check()
                data: dict[str, Any] = {"status": "ok" if healthy else "unhealthy", **checks}
                body = (json.dumps(data) + "\n").encode("utf-8")
                self._send(200 if healthy else 503, "application/json", body, send_body)
            elif path == "/metrics" and owner.metrics is not None:
                self._send(200, CONTENT_TYPE_LATEST, owner.metrics.exposition(), send_body)
            elif path.startswith("/watch/") and path.endswith(".atom") and owner.watch_feed:
                self._watch_feed(path[len("/watch/") : -len(".atom")], send_body)
            elif path == "/":
                links = "/healthz\n/metrics\n" if owner.metrics is not None else "/healthz\n"
                self._send(200, "text/plain; charset=utf-8", links.encode(), send_body)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n", send_body)

        def _watch_feed(self, name: str, send_body: bool) -> None:
            assert owner.watch_feed is not None
            try:
                feed = owner.watch_feed(name)
            except AutoposterError as e:
                message = f"{logs.redact_known(str(e))}\n".encode()
                self._send(503, "text/plain; charset=utf-8", message, send_body)
                return
            if feed is None:
                self._send(404, "text/plain; charset=utf-8", b"no such watch\n", send_body)
            else:
                self._send(200, "application/atom+xml; charset=utf-8", feed, send_body)

        def _send(self, status: int, content_type: str, body: bytes, send_body: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a probe every few seconds would drown the log

    return _Handler
