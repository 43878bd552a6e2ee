"""Parse hostile feeds without hanging or bloating the daemon.

:class:`ParserPool` runs :func:`autoposter.parse.parse_feed` in long-lived
worker processes, each under an address-space limit (``RLIMIT_AS``) and a
wall-clock limit per feed. A worker that overruns its time is killed and
replaced; one that dies (out of memory, crash) is replaced too. Either way the
caller gets a :class:`ParseError` for that feed and the pool goes on.

Workers come from a ``forkserver`` that has ``autoposter.parse`` (feedparser
included) preloaded: starting one is a fork of a small, single-threaded
process, never of the multi-threaded daemon. They start on first use.

``workers=0`` parses in the calling process, without limits: for tests and
tiny setups.

A forkserver child would import the program's main module (as
``__mp_main__``) when it starts: for the ``autoposter`` console script that is
the CLI and everything it imports, tens of megabytes per worker that parsing
never uses. Workers are started with the main module hidden, so they hold
only what the forkserver preloaded; ``_worker_main`` needs nothing else.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import sys
import threading
import traceback
import types
from collections.abc import Iterator, Mapping
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

from autoposter.errors import ParseError
from autoposter.parse import parse_feed
from autoposter.types import ParsedFeed

__all__ = ["ParserPool"]

_log = logging.getLogger(__name__)

_PRELOAD = ["autoposter.parse", "autoposter.parsepool"]
_MAIN_LOCK = threading.Lock()
_STOP_GRACE = 1.0  # seconds a worker gets to exit before it is killed
_CRASHED = "the parser ran out of memory / crashed"

# Replies from a worker: ("ok", ParsedFeed) | ("parse_error", message)
# | ("memory", "") | ("bug", formatted traceback).
_Reply = tuple[str, Any]


def _worker_main(conn: Connection, memory_limit: int) -> None:
    """Body of a worker process: answer parse requests until told to stop."""
    import resource
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon handles ^C and closes the pool
    if memory_limit > 0:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            memory_limit = min(memory_limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, hard))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        except MemoryError:
            # The request alone does not fit: report it and leave.
            with contextlib.suppress(MemoryError, OSError):
                conn.send(("memory", ""))
            return
        if request is None:
            return
        body, url, headers, default_language = request
        reply: _Reply
        try:
            reply = (
                "ok",
                parse_feed(body, url=url, headers=headers, default_language=default_language),
            )
        except ParseError as e:
            reply = ("parse_error", e.message)
        except MemoryError:
            reply = ("memory", "")
        except Exception:
            reply = ("bug", traceback.format_exc())
        del body, request
        try:
            conn.send(reply)
        except (MemoryError, OSError):
            return
        if reply[0] == "memory":
            return  # a process that hit its limit once is not trusted with the next feed


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """While a worker starts: multiprocessing sees a main module with no file and no spec,
    so the child does not import the program's real one (see the module docstring)."""
    with _MAIN_LOCK:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = main


class _Worker:
    __slots__ = ("conn", "process")

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn

    def stop(self, *, graceful: bool) -> None:
        """End the process and wait for it (the forkserver, its parent, reaps it)."""
        if graceful and self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.process.join(_STOP_GRACE)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(_STOP_GRACE)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(_STOP_GRACE)
        self.conn.close()


class ParserPool:
    """Parse feeds in worker processes with a time and a memory limit per feed.

    ``parse`` may be called from many threads at once; each call takes an
    idle worker, waiting for one if all are busy. ``timeout`` is in seconds,
    ``memory_limit`` in bytes of address space per worker. ``close`` stops
    every worker and may be called more than once; the pool is also a
    context manager.
    """

    def __init__(
        self,
        *,
        workers: int = 2,
        timeout: float = 20.0,
        memory_limit: int = 512 * 1024 * 1024,
    ) -> None:
        if workers < 0:
            raise ValueError("workers must be >= 0")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self._size = workers
        self._timeout = timeout
        self._memory_limit = memory_limit
        self._ctx = multiprocessing.get_context("forkserver")
        self._cond = threading.Condition()
        self._idle: collections.deque[_Worker] = collections.deque()
        self._all: set[_Worker] = set()
        self._closed = False

    def parse(
        self, body: bytes, *, url: str, headers: Mapping[str, str], default_language: str
    ) -> ParsedFeed:
        """``parse_feed`` in a worker; raises :class:`ParseError` (also on timeout or crash)."""
        if self._size == 0:
            if self._closed:
                raise ParseError(url, "the parser pool is closed")
            return parse_feed(body, url=url, headers=headers, default_language=default_language)
        worker = self._acquire(url)
        healthy = False
        try:
            reply = self._ask(worker, (body, url, dict(headers), default_language), url)
            healthy = True
        except ParseError as e:
            if self._closed:
                raise ParseError(url, "the parser pool was closed") from e
            raise
        finally:
            self._release(worker, healthy)
        tag, payload = reply
        if tag == "ok":
            result: ParsedFeed = payload
            return result
        if tag == "parse_error":
            raise ParseError(url, str(payload))
        raise RuntimeError(f"parse_feed failed in a worker process for {url}:\n{payload}")

    def close(self) -> None:
        """Stop every worker (idle ones cleanly, busy ones by force); idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            idle = list(self._idle)
            busy = self._all.difference(idle)
            self._idle.clear()
            self._all.clear()
            self._cond.notify_all()
        for worker in busy:
            # The thread using it sees EOF, reports its feed as failed and joins it.
            worker.process.kill()
        for worker in idle:
            worker.stop(graceful=True)

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ------------------------------------------------------------

    def _ask(self, worker: _Worker, request: tuple[Any, ...], url: str) -> _Reply:
        """Send one request and wait for its reply; the worker is dead on any failure."""
        try:
            worker.conn.send(request)
            if not worker.conn.poll(self._timeout):
                raise ParseError(
                    url, f"parsing took longer than {self._timeout:g} s; the feed was skipped"
                )
            reply: _Reply = worker.conn.recv()
        except (EOFError, OSError) as e:
            raise ParseError(url, _CRASHED) from e
        if reply[0] == "memory":
            raise ParseError(url, _CRASHED)
        return reply

    def _acquire(self, url: str) -> _Worker:
        """An idle worker; starts one if the pool is short of workers, else waits for one."""
        with self._cond:
            while True:
                if self._closed:
                    raise ParseError(url, "the parser pool is closed")
                if self._idle:
                    return self._idle.popleft()
                if len(self._all) < self._size:
                    worker = self._spawn()
                    self._all.add(worker)
                    return worker
                self._cond.wait()

    def _release(self, worker: _Worker, healthy: bool) -> None:
        if healthy and worker.process.is_alive():
            with self._cond:
                if not self._closed:
                    self._idle.append(worker)
                    self._cond.notify()
                    return
            worker.stop(graceful=True)
            return
        # Timed out, crashed, or its pipe broke: kill it and start a fresh one in its place.
        with self._cond:
            self._all.discard(worker)
        worker.stop(graceful=False)
        with self._cond:
            if self._closed or len(self._all) >= self._size:
                return
            try:
                replacement = self._spawn()
            except Exception:
                # Not this feed's fault: the next parse() tries again and reports it.
                _log.exception("could not start a parser worker")
                self._cond.notify()
                return
            self._all.add(replacement)
            self._idle.append(replacement)
            self._cond.notify()

    def _spawn(self) -> _Worker:
        """Start a worker; the caller holds ``self._cond``."""
        # Only effective before the forkserver starts; a no-op afterwards.
        self._ctx.set_forkserver_preload(_PRELOAD)
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_worker_main,
            args=(child, self._memory_limit),
            name="autoposter-parser",
            daemon=True,
        )
        with _main_hidden():
            process.start()
        child.close()
        return _Worker(process, parent)
