"""Conditional HTTP GET of a feed URL -> bytes, safely and cheaply.

``Fetcher.fetch`` returns ``Fetched`` (a full body) or ``NotModified`` (a 304
to a conditional GET) and raises ``FetchError`` for everything else. It never
lets an httpx exception escape, and never puts URL credentials (``user:pass@``)
into a message or into the URLs it returns.

Bounds, so that one bad server cannot hold a worker thread or the memory:

- a connect timeout, a read timeout, and an overall deadline of ``timeout``
  seconds per call (all redirect hops together) enforced on every socket
  operation, so a server trickling bytes, or headers, cannot keep us;
- a byte cap on the decoded body, checked while streaming, with the
  decompression itself bounded (a gzip bomb never expands past the cap);
- at most ``max_redirects`` redirects, to http and https URLs only;
- at most ``per_host`` requests in flight to one host:port.

Where a request may go (the address rule): a URL the operator configured
(``trust="config"``) may reach any address. A redirect to another origin
(scheme, host, port) than the configured URL's, and any URL taken from feed or
network content (``trust="content"``: images, card thumbnails), may reach a
loopback, private, link-local, shared, multicast, reserved or unspecified
address only inside ``allow_networks``. The check is made on the address the
socket actually connects to, resolved here, so a name that resolves to a
public address when checked and to a private one when connected (DNS
rebinding) cannot slip past it.

Time spent waiting for a free per-host slot or pooled connection is local
queueing, not the server's time: it does not count against ``timeout`` and is
bounded separately by ``SLOT_WAIT`` seconds.
"""

from __future__ import annotations

import collections
import contextvars
import hashlib
import ipaddress
import os
import re
import socket
import ssl
import stat
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpcore
import httpx

from autoposter import __version__, httpdate
from autoposter.errors import FetchError
from autoposter.types import Fetched, Network, NotModified

__all__ = [
    "ACCEPT",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_USER_AGENT",
    "SLOT_WAIT",
    "Fetcher",
    "Network",
    "Trust",
    "redact_url",
]

#: Who named a URL: the operator's configuration, or feed or network content.
Trust = Literal["config", "content"]

DEFAULT_USER_AGENT: Final = f"autoposter/{__version__} (+https://github.com/autoposter/autoposter)"
DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024
ACCEPT: Final = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
#: Longest wait, in seconds, for a per-host slot or a pooled connection.
SLOT_WAIT: Final = 60.0

_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_SUCCESS_STATUSES: Final = frozenset({200, 203})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_FILE_TYPES: Final = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".json": "application/feed+json",
}
# Headers that describe the bytes on the wire, not the decoded ``Fetched.body``.
_WIRE_HEADERS: Final = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_SCHEME: Final = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*):")
_USERINFO: Final = re.compile(r"^(\s*(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//)[^/?#]*@")
_SHARED: Final = ipaddress.ip_network("100.64.0.0/10")

# The absolute time.monotonic() deadline of the fetch running in this thread.
# httpx's sync client does its socket I/O in the calling thread, so the network
# backend below reads it to clamp every socket timeout.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "autoposter_fetch_deadline", default=None
)


def redact_url(url: str) -> str:
    """``url`` without its userinfo: ``https://u:p@host/x`` -> ``https://host/x``. Never raises."""
    return _USERINFO.sub(r"\1", url, count=1)


class Fetcher:
    """Downloads feeds; safe to share between the threads of a pool.

    Each host (host:port) has its own small connection pool of ``per_host``
    kept-alive connections and the same number of request slots: the
    politeness limit, whatever the concurrency overall. One pool per host also
    keeps each request's cost flat: a single pool shared by hundreds of hosts
    scans every connection it holds on every request. Hosts not used lately are
    dropped past ``max_hosts``. Use as a context manager or call ``close()``.
    """

    def __init__(
        self,
        *,
        user_agent: str | None = None,
        max_redirects: int = 5,
        connect_timeout: float = 10.0,
        per_host: int = 2,
        max_hosts: int = 256,
        allow_networks: Iterable[Network] = (),
    ) -> None:
        if max_redirects < 0 or per_host < 1 or max_hosts < 1:
            raise ValueError("max_redirects must be >= 0, per_host and max_hosts >= 1")
        self._max_redirects = max_redirects
        self._connect_timeout = connect_timeout
        self._per_host = per_host
        self._max_hosts = max_hosts
        self._rule = _AddressRule(tuple(allow_networks))
        self._hosts: collections.OrderedDict[str, _Host] = collections.OrderedDict()
        self._hosts_lock = threading.Lock()
        self._closed = False
        # One TLS context for every host: building one loads the CA bundle (milliseconds
        # and hundreds of kilobytes each).
        self._ssl = httpx.create_ssl_context()
        self._headers = {
            "User-Agent": user_agent or DEFAULT_USER_AGENT,
            "Accept": ACCEPT,
            # We decode ourselves, so only what we can decode with a bound.
            "Accept-Encoding": "gzip, deflate",
        }

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections. The fetcher cannot be used afterwards."""
        with self._hosts_lock:
            self._closed = True
            hosts, self._hosts = list(self._hosts.values()), collections.OrderedDict()
        for host in hosts:
            host.client.close()

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        timeout: float = 20.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        trust: Trust = "config",
    ) -> Fetched | NotModified:
        """GET ``url``, conditionally when ``etag`` or ``last_modified`` is given.

        Returns ``NotModified`` on 304 and ``Fetched`` on 200/203; raises
        ``FetchError`` otherwise, among others when the address rule (module
        docstring) refuses where ``url`` or a redirect leads; ``trust`` says who
        named ``url``. ``Fetched.url`` and its ``content-location`` header are
        the final URL after redirects, without userinfo. ``file:`` URLs
        (absolute, local) are read from disk with the same byte cap, when the
        configuration names them.
        """
        url = url.strip()
        shown = redact_url(url)
        match = _SCHEME.match(url)
        scheme = match.group(1).lower() if match else ""
        if scheme == "file" and trust == "config":
            return _read_file(url, shown, max_bytes)
        if scheme not in _DEFAULT_PORTS:
            what = f"unsupported URL scheme {scheme!r}" if scheme else "not an absolute URL"
            raise FetchError(shown, what)
        fail = _Failure(url, shown)
        try:
            current = _valid(httpx.URL(url))
        except httpx.InvalidURL as e:
            raise fail(f"invalid URL: {e}") from e
        conditional = _conditional_headers(etag, last_modified)
        call = _Call(
            start=str(current),
            timeout=timeout,
            connect_timeout=self._connect_timeout,
            max_bytes=max_bytes,
            headers=conditional,
            fail=fail,
            origin=_origin(current) if trust == "config" else None,
        )
        seen = {str(current)}
        for _ in range(self._max_redirects + 1):
            outcome = self._hop(current, call)
            if not isinstance(outcome, _Redirect):
                return outcome
            current = _redirect_target(current, outcome.location, fail)
            if str(current) in seen:
                raise fail(f"redirect loop at {redact_url(str(current))}")
            seen.add(str(current))
        raise fail(f"too many redirects (more than {self._max_redirects})")

    # -- one request -------------------------------------------------------

    def _hop(self, url: httpx.URL, call: _Call) -> Fetched | NotModified | _Redirect:
        """One request/response exchange, holding the host's slot for its duration."""
        with self._slot(url, call) as client:
            token = _deadline.set(call.deadline)
            try:
                with client.stream(
                    "GET", url, headers=call.headers, timeout=call.httpx_timeout()
                ) as response:
                    return self._handle(url, response, call)
            except httpx.ConnectError as e:
                refused = next((c for c in _causes(e) if isinstance(c, _Refused)), None)
                if refused is None:
                    raise call.fail(self._describe(e, call)) from e
                raise call.fail(f"refused {redact_url(str(url))}: {refused.reason}") from e
            except httpx.InvalidURL as e:
                # The request URL is valid by now: httpx failed on a Location it
                # pre-builds for every redirect, even one we follow ourselves.
                raise call.fail(f"invalid redirect Location: {e}") from e
            except httpx.HTTPError as e:
                raise call.fail(self._describe(e, call)) from e
            finally:
                _deadline.reset(token)

    def _handle(
        self, url: httpx.URL, response: httpx.Response, call: _Call
    ) -> Fetched | NotModified | _Redirect:
        status = response.status_code
        here = redact_url(str(url))
        where = "" if str(url) == call.start else f" at {here}"
        if status in _REDIRECT_STATUSES:
            location = response.headers.get("location")
            if not location:
                raise call.fail(f"{_status_text(status)} without a Location header{where}", status)
            return _Redirect(location)
        if status == 304:
            if not call.headers:
                raise call.fail(
                    f"{_status_text(status)} to an unconditional request{where}", status
                )
            # A 304 has no body; reading its end hands the connection back to the pool
            # (closing an unread response closes the connection: a new TCP connect per poll).
            for _ in response.iter_raw():
                break
            return NotModified(here)
        if status in _SUCCESS_STATUSES:
            body = _read_body(response, call)
            headers = {k: v for k, v in response.headers.items() if k not in _WIRE_HEADERS}
            headers["content-location"] = here
            return Fetched(
                url=here,
                body=body,
                headers=headers,
                etag=headers.get("etag"),
                last_modified=headers.get("last-modified"),
                body_hash=hashlib.sha256(body).hexdigest(),
            )
        message = _status_text(status)
        wait = httpdate.retry_after(response.headers.get("retry-after"))
        if status in (429, 503) and wait is not None:
            message += f" (Retry-After: {round(wait)})"
        if status < 400:
            message = f"unexpected {message}"
        raise call.fail(message + where, status)

    @contextmanager
    def _slot(self, url: httpx.URL, call: _Call) -> Iterator[httpx.Client]:
        """The host's client, once one of its ``per_host`` slots is free.

        Requests that the address rule guards get clients of their own: a
        connection opened for the configured origin, unchecked, is never reused
        for a URL from content.
        """
        guarded = call.origin is None or _origin(url) != call.origin
        key = f"{url.scheme}://{url.host}:{url.port or _DEFAULT_PORTS.get(url.scheme, 0)}"
        host = self._host(key + " guarded" if guarded else key, guarded)
        started = time.monotonic()
        if not host.slots.acquire(timeout=SLOT_WAIT):
            with self._hosts_lock:
                host.users -= 1
            raise call.fail(f"no free slot for {key.partition('://')[2]} after {SLOT_WAIT:g} s")
        # Queueing for our own politeness limit is not the server's time.
        call.deadline += time.monotonic() - started
        try:
            yield host.client
        finally:
            host.slots.release()
            with self._hosts_lock:
                host.users -= 1

    def _host(self, key: str, guarded: bool) -> _Host:
        """The host's entry, counted as in use; the least recently used idle ones beyond
        ``max_hosts`` are closed."""
        retired: list[_Host] = []
        with self._hosts_lock:
            if self._closed:
                raise RuntimeError("the fetcher is closed")
            host = self._hosts.get(key)
            if host is None:
                client = self._new_client(self._rule if guarded else None)
                host = self._hosts[key] = _Host(client, self._per_host)
                for other_key, other in list(self._hosts.items()):
                    if len(self._hosts) <= self._max_hosts:
                        break
                    if other.users == 0 and other is not host:
                        retired.append(self._hosts.pop(other_key))
            else:
                self._hosts.move_to_end(key)
            host.users += 1
        for old in retired:
            old.client.close()
        return host

    def _new_client(self, rule: _AddressRule | None) -> httpx.Client:
        limits = httpx.Limits(
            max_connections=self._per_host, max_keepalive_connections=self._per_host
        )
        transport = httpx.HTTPTransport(verify=self._ssl, limits=limits)
        _install_deadline_backend(transport, rule)
        return httpx.Client(transport=transport, follow_redirects=False, headers=self._headers)

    def _describe(self, e: httpx.HTTPError, call: _Call) -> str:
        """A short human message for an httpx exception."""
        if isinstance(e, httpx.PoolTimeout):
            return f"no free connection after {SLOT_WAIT:g} s"
        if isinstance(e, httpx.ConnectTimeout) and time.monotonic() < call.deadline:
            return f"connection timed out after {call.connect_timeout:g} s"
        if isinstance(e, httpx.TimeoutException):
            return call.timed_out()
        if isinstance(e, httpx.ConnectError):
            return _connect_reason(e)
        if isinstance(e, httpx.RemoteProtocolError):
            text = str(e).lower()
            if "without sending a response" in text:
                return "server closed the connection without answering"
            if "complete message body" in text:
                return "server closed the connection before the end of the body"
            return f"protocol error: {e}"
        if isinstance(e, httpx.ProtocolError):
            return f"protocol error: {e}"
        if isinstance(e, httpx.NetworkError):
            return _os_reason(e, "network error")
        if isinstance(e, httpx.UnsupportedProtocol):
            return "unsupported URL scheme"
        if isinstance(e, httpx.DecodingError):
            return "could not decode the response body"
        return f"HTTP client error: {type(e).__name__}: {e}"


# -- per-call state ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Redirect:
    location: str


class _Host:
    """One host's client and request slots; ``users`` counts the fetches holding it."""

    __slots__ = ("client", "slots", "users")

    def __init__(self, client: httpx.Client, per_host: int) -> None:
        self.client = client
        self.slots = threading.BoundedSemaphore(per_host)
        self.users = 0


class _Failure:
    """Builds FetchErrors for one URL, scrubbing its credentials from every message."""

    def __init__(self, url: str, shown: str) -> None:
        self.shown = shown
        secrets: set[str] = set()
        try:
            parts = urlsplit(url)
            userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
            secrets.update({userinfo, parts.password or "", parts.username or ""})
        except ValueError:
            pass
        # Very short strings would mangle unrelated words; they are not secrets anyway.
        self._secrets = sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True)

    def __call__(self, message: str, status: int | None = None) -> FetchError:
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return FetchError(self.shown, message, status=status)


@dataclass(slots=True)
class _Call:
    """What one ``fetch`` call carries across its redirect hops."""

    start: str
    timeout: float
    connect_timeout: float
    max_bytes: int
    headers: dict[bytes, bytes]
    fail: _Failure
    # The configured URL's (scheme, host, port); None for a URL from content.
    origin: tuple[str, str, int] | None
    deadline: float = 0.0

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.timeout

    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.timeout,
            write=self.timeout,
            pool=SLOT_WAIT,
        )

    def timed_out(self) -> str:
        return f"timed out after {self.timeout:g} s"


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[bytes, bytes]:
    headers: dict[bytes, bytes] = {}
    for name, value in ((b"If-None-Match", etag), (b"If-Modified-Since", last_modified)):
        if not value:
            continue
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            continue  # not a validator any server sent; a full GET is the safe answer
        if not any(c in raw for c in b"\r\n\0"):
            headers[name] = raw
    return headers


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 0))


def _valid(url: httpx.URL) -> httpx.URL:
    """``url`` if httpx would not choke on it later; httpx leaves these checks to the socket."""
    if url.scheme in _DEFAULT_PORTS and not url.host:
        raise httpx.InvalidURL("no host")
    if url.port is not None and not 0 < url.port < 65536:
        raise httpx.InvalidURL(f"port {url.port} out of range")
    return url


def _redirect_target(current: httpx.URL, location: str, fail: _Failure) -> httpx.URL:
    try:
        target = _valid(current.join(location.strip()))
    except httpx.InvalidURL as e:
        raise fail(f"invalid redirect Location: {e}") from e
    if target.scheme not in _DEFAULT_PORTS:
        scheme = target.scheme or "?"
        raise fail(f"redirect to unsupported URL scheme {scheme!r} refused")
    same_origin = (target.scheme, target.host, target.port) == (
        current.scheme,
        current.host,
        current.port,
    )
    if same_origin and current.userinfo and not target.userinfo:
        target = target.copy_with(userinfo=current.userinfo)
    return target


# -- body ----------------------------------------------------------------------


def _read_body(response: httpx.Response, call: _Call) -> bytes:
    """The decoded body, aborting as soon as it (or its encoded form) passes the cap."""
    too_large = f"larger than {_format_size(call.max_bytes)} limit"
    length = response.headers.get("content-length", "").strip()
    if length.isdigit() and int(length) > call.max_bytes:
        raise call.fail(too_large)
    decoder = _decoder(response.headers.get("content-encoding", ""), call)
    chunks: list[bytes] = []
    size = 0
    for raw in response.iter_raw():
        if time.monotonic() > call.deadline:
            raise call.fail(call.timed_out())
        if response.num_bytes_downloaded > call.max_bytes:
            raise call.fail(too_large)
        data = decoder.decode(raw, call.max_bytes - size)
        size += len(data)
        if size > call.max_bytes:
            raise call.fail(too_large)
        chunks.append(data)
    tail = decoder.flush()
    if size + len(tail) > call.max_bytes:
        raise call.fail(too_large)
    chunks.append(tail)
    return b"".join(chunks)


class _Identity:
    def decode(self, data: bytes, room: int) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


class _Zlib:
    """gzip or deflate, never producing more than ``room + 1`` bytes per call.

    httpx's own decoders inflate each network chunk in full: 64 KB of a gzip
    bomb would become 64 MB in memory before any cap could be checked.
    """

    def __init__(self, encoding: str, fail: _Failure) -> None:
        self._encoding = encoding
        self._fail = fail
        wbits = zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS
        self._inflater = zlib.decompressobj(wbits)
        # "deflate" is zlib-wrapped by the RFC, raw deflate from some servers.
        self._may_be_raw = encoding == "deflate"

    def decode(self, data: bytes, room: int) -> bytes:
        try:
            return self._inflater.decompress(data, room + 1)
        except zlib.error as e:
            if self._may_be_raw:
                self._may_be_raw = False
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.decode(data, room)
            raise self._fail(f"could not decode {self._encoding} body") from e
        finally:
            self._may_be_raw = False

    def flush(self) -> bytes:
        try:
            return self._inflater.flush()
        except zlib.error as e:
            raise self._fail(f"could not decode {self._encoding} body") from e


def _decoder(content_encoding: str, call: _Call) -> _Identity | _Zlib:
    codings = [c.strip() for c in content_encoding.lower().split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return _Identity()
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Zlib("deflate" if codings[0] == "deflate" else "gzip", call.fail)
    raise call.fail(f"unsupported content-encoding {_printable(content_encoding)!r}")


# -- file: URLs ----------------------------------------------------------------


def _read_file(url: str, shown: str, max_bytes: int) -> Fetched:
    """Read a local ``file:///`` URL named by the configuration (never by a redirect)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FetchError(shown, "file: URL must name a local path (file:///...)")
    path = url2pathname(parts.path)
    if not os.path.isabs(path):
        raise FetchError(shown, "file: URL must name an absolute path")
    try:
        # O_NONBLOCK so that opening a FIFO cannot hang; it is refused below.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise FetchError(shown, "not a regular file")
            file = os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise
        with file:
            body = file.read(max_bytes + 1)
    except FileNotFoundError as e:
        raise FetchError(shown, "file not found") from e
    except PermissionError as e:
        raise FetchError(shown, "permission denied") from e
    except OSError as e:
        raise FetchError(shown, f"could not read file: {e.strerror or e}") from e
    if len(body) > max_bytes:
        raise FetchError(shown, f"larger than {_format_size(max_bytes)} limit")
    headers = {"content-location": shown}
    content_type = _FILE_TYPES.get(os.path.splitext(path)[1].lower())
    if content_type:
        headers["content-type"] = content_type
    return Fetched(
        url=shown,
        body=body,
        headers=headers,
        etag=None,
        last_modified=None,
        body_hash=hashlib.sha256(body).hexdigest(),
    )


# -- messages --------------------------------------------------------------------


def _status_text(status: int) -> str:
    return f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".rstrip()


def _format_size(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def _printable(text: str, limit: int = 64) -> str:
    return "".join(c for c in text.strip() if c.isprintable())[:limit]


def _causes(e: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = e
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _connect_reason(e: httpx.ConnectError) -> str:
    for cause in _causes(e):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS error: {cause.verify_message or cause.reason}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause}"
        if isinstance(cause, socket.gaierror):
            return "host name not found"
    return _os_reason(e, "connection failed")


def _os_reason(e: BaseException, prefix: str) -> str:
    for cause in _causes(e):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by server"
        if isinstance(cause, OSError) and cause.strerror:
            return f"{prefix}: {cause.strerror}"
    return f"{prefix}: {e}" if str(e) else prefix


# -- deadline enforcement in the socket layer --------------------------------------


def _remaining(timeout: float | None, timeout_error: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left before this thread's fetch deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise timeout_error("deadline exceeded")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, _remaining(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Refused(httpcore.ConnectError):
    """Every address of the host is one the address rule keeps this request from."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _AddressRule:
    """Which addresses a guarded request may connect to: public ones, and ``allowed``."""

    allowed: tuple[Network, ...]

    def refusal(self, host: str, address: str) -> str | None:
        """Why ``address`` (``host`` resolved) is refused, or None when it may be reached."""
        ip = ipaddress.ip_address(address.partition("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        kind = _address_kind(ip)
        if kind is None or any(ip in network for network in self.allowed):
            return None
        named = f"{address} is" if host == address else f"{host} resolves to {address},"
        return (
            f"{named} {'an' if kind[0] in 'aeiou' else 'a'} {kind} address; a redirect to "
            "another origin, or a URL from feed content, may reach it only inside "
            "http.allow_networks"
        )


def _address_kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What makes ``ip`` not public, or None when it is."""
    for kind, test in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("shared", ip in _SHARED),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    ):
        if test:
            return kind
    return None


class _DeadlineBackend(httpcore.NetworkBackend):
    """Clamps every socket timeout to the calling thread's fetch deadline and, with a
    ``rule``, connects only to the addresses it allows.

    Read timeouts alone let a server that sends one byte just before each
    timeout keep a connection forever, in the headers as well as the body.
    The rule is applied here, where the name is resolved and the very address
    checked is the one connected to; TLS still verifies the host name, which
    httpcore passes to ``start_tls`` itself.
    """

    def __init__(self, inner: httpcore.NetworkBackend, rule: _AddressRule | None) -> None:
        self._inner = inner
        self._rule = rule

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        if self._rule is None:
            addresses = [host]
        else:
            addresses = self._allowed_addresses(self._rule, host, port)
        error: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    _remaining(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except httpcore.ConnectError as e:
                error = e
                continue
            return _DeadlineStream(stream)
        assert error is not None
        raise error

    @staticmethod
    def _allowed_addresses(rule: _AddressRule, host: str, port: int) -> list[str]:
        """The host's addresses that ``rule`` allows; raises _Refused when there are none."""
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as e:
            raise httpcore.ConnectError(str(e)) from e
        allowed: list[str] = []
        refusal = "the host name has no address"
        for *_, sockaddr in found:
            address = str(sockaddr[0])
            reason = rule.refusal(host, address)
            if reason is None:
                if address not in allowed:
                    allowed.append(address)
            else:
                refusal = reason
        if not allowed:
            raise _Refused(refusal)
        return allowed

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(
            path, _remaining(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _install_deadline_backend(transport: httpx.HTTPTransport, rule: _AddressRule | None) -> None:
    # httpx has no public hook for the network backend; the pool's attribute is
    # stable across httpx 0.2x. Without it the deadline would only be checked
    # between body chunks, and the address rule not at all: a guarded request
    # then fails rather than go unchecked.
    pool = getattr(transport, "_pool", None)
    if isinstance(pool, httpcore.ConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = _DeadlineBackend(pool._network_backend, rule)
    elif rule is not None:
        raise RuntimeError("this httpx cannot check where a request connects")
