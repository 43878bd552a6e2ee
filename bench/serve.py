"""A FeedServer (tests/feedserver.py) on 127.0.0.1 in a child process.

The server's own CPU must not count as the client's, so it runs in a process
of its own; the benchmark drives it over a pipe. Bodies are generated in the
child, so megabytes of feeds never cross the pipe.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from bench.feeds import site_feed


def _path(site: int) -> str:
    return f"/c{site}/feed"


#: Sites are spread over this many ports, as feeds of many communes are over many web
#: servers: the fetcher's per-host limit (2 in flight per host:port) applies per port.
HOSTS = 25


def _serve(conn: Connection) -> None:
    from tests.feedserver import FeedServer

    firsts: dict[int, int] = {}
    validators = True
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(FeedServer()) for _ in range(HOSTS)]
        conn.send([s.base_url for s in servers])

        class _Spread:
            def set(self, path: str, body: bytes, **kwargs: Any) -> None:
                servers[int(path.split("/")[1].lstrip("c") or 0) % HOSTS].set(path, body, **kwargs)

            @property
            def requests(self) -> list[Any]:
                return [r for s in servers for r in s.requests]

        server = _Spread()
        while True:
            command, args = conn.recv()
            if command == "stop":
                conn.send(None)
                return
            if command == "sites":  # (sites, first): serve these sites' feeds from item `first`
                sites, first = args
                for site in sites:
                    firsts[site] = first
                    server.set(_path(site), site_feed(site, first=first), validators=validators)
                conn.send(None)
            elif command == "validators":  # answer conditional GETs with 304, or ignore them
                validators = bool(args)
                for site, first in firsts.items():
                    server.set(_path(site), site_feed(site, first=first), validators=validators)
                conn.send(None)
            elif command == "raw":  # (path, body): on the first port
                path, body = args
                servers[0].set(path, body)
                conn.send(None)
            elif command == "requests":
                conn.send(len(server.requests))
            elif command == "cpu":
                times = os.times()
                conn.send(times.user + times.system)
            else:
                conn.send(ValueError(command))


class RemoteFeedServer:
    """Start with ``with RemoteFeedServer() as server:``; ``server.url(site)`` is a feed URL."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        child.close()
        self.base_urls: list[str] = self._conn.recv()
        self.base_url = self.base_urls[0]

    def _call(self, command: str, args: Any = None) -> Any:
        self._conn.send((command, args))
        reply = self._conn.recv()
        if isinstance(reply, Exception):
            raise reply
        return reply

    @property
    def pid(self) -> int:
        return int(self._process.pid or 0)

    def url(self, site: int) -> str:
        return self.base_urls[site % HOSTS] + _path(site)

    def serve(self, sites: range | list[int], *, first: int = 0) -> None:
        self._call("sites", (list(sites), first))

    def validators(self, on: bool) -> None:
        self._call("validators", on)

    def raw(self, path: str, body: bytes) -> None:
        self._call("raw", (path, body))

    def request_count(self) -> int:
        return int(self._call("requests"))

    def cpu(self) -> float:
        return float(self._call("cpu"))

    def close(self) -> None:
        if self._process.is_alive():
            self._call("stop")
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def __enter__(self) -> RemoteFeedServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
