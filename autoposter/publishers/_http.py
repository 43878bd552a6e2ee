"""The one HTTP error boundary of the publishers: transport failures and HTTP statuses
read into the error tree, the same way for every network.

The rule, applied everywhere:

- a failure before the request was sent (connection refused, DNS failure, TLS
  handshake, a connect timeout, no free connection) is ``UnavailableError``
  with ``maybe_posted=False``: retrying cannot post twice;
- a failure after it was sent (a read or write timeout, a connection dropped)
  is ``UnavailableError`` with ``maybe_posted=True``: the post may exist;
- HTTP 401 and 403 are ``AuthError``, 429 ``RateLimitedError`` (with the
  server's ``Retry-After``), 408 and 5xx ``UnavailableError`` (maybe posted),
  any other error status ``RejectedError``.

Each network reads its own special cases first (X's duplicate-content 403,
Telegram's ``parameters.retry_after``, LinkedIn's 426) and hands the rest to
``status_error``. Messages never hold a transport exception's text: httpx and
requests name the URL, and some URLs carry a token (the Telegram Bot API, Graph
API reads).

httpx and requests are imported only when an exception of theirs is being
read, so that importing a network's module for its writer imports neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoposter import httpdate
from autoposter.errors import (
    AuthError,
    PublishError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)

__all__ = ["json_object", "request_sent", "retry_after", "status_error", "transport_error"]


def transport_error(account: str, error: BaseException, *, what: str) -> UnavailableError:
    """The error for a request that got no answer; ``what`` names what failed
    ("cannot reach LinkedIn"). ``maybe_posted`` follows ``request_sent``."""
    sent = request_sent(error)
    if "Timeout" in type(error).__name__:
        reason = "timed out" if sent else "timed out connecting"
    else:
        reason = "connection dropped" if sent else "cannot connect"
    return UnavailableError(
        account, f"{what}: {reason} ({type(error).__name__})", maybe_posted=sent
    )


def request_sent(error: BaseException) -> bool:
    """Whether the request may have reached the server before ``error`` (an httpx or
    requests exception) ended it. An exception of another library: True, the safe answer."""
    library = type(error).__module__.partition(".")[0]
    if library == "httpx":
        return _httpx_sent(error)
    if library == "requests":
        return _requests_sent(error)
    return True


def _httpx_sent(error: BaseException) -> bool:
    import httpx

    # httpx raises ConnectError for refused connections, DNS and TLS handshake failures.
    return not isinstance(
        error,
        httpx.ConnectError
        | httpx.ConnectTimeout
        | httpx.PoolTimeout
        | httpx.ProxyError
        | httpx.UnsupportedProtocol,
    )


def _requests_sent(error: BaseException) -> bool:
    import requests
    import urllib3

    if isinstance(
        error,
        requests.exceptions.ConnectTimeout
        | requests.exceptions.SSLError
        | requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema,
    ):
        return False
    if isinstance(error, requests.exceptions.ConnectionError):
        # requests says ConnectionError both for a refused connection (urllib3's
        # MaxRetryError around NewConnectionError, which DNS failures subclass) and
        # for one dropped after sending (a ProtocolError): only the cause tells.
        cause = error.args[0] if error.args else None
        if isinstance(cause, urllib3.exceptions.MaxRetryError):
            cause = cause.reason
        return not isinstance(
            cause, urllib3.exceptions.NewConnectionError | urllib3.exceptions.SSLError
        )
    return True


def status_error(
    account: str, status: int, message: str, *, retry_after: float | None = None
) -> PublishError:
    """The error for an HTTP error ``status``; ``message`` is the whole message, already
    free of secrets."""
    if status in (401, 403):
        return AuthError(account, message)
    if status == 429:
        return RateLimitedError(account, message, retry_after=retry_after)
    if status == 408 or status >= 500:
        return UnavailableError(account, message, maybe_posted=True)
    return RejectedError(account, message)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a response's ``Retry-After`` (against its ``Date``), or None."""
    return httpdate.retry_after(headers.get("retry-after"), date=headers.get("date"))


def json_object(response: Any) -> Mapping[str, Any]:
    """A response's JSON body when it is an object, else an empty mapping."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, Mapping) else {}
