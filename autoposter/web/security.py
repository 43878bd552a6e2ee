"""Who is asking, and whether they may: sessions, the CSRF check, roles, login throttling
and the headers every answer carries.

A handler never checks any of this itself: ``load_visitor`` runs before every
request (a session cookie, or a trusted proxy's header), ``check_csrf`` before
every POST, and ``requires(role)`` guards each route, on the server, whatever
the page shows.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import Response, abort, current_app, g, request

from autoposter import app
from autoposter.config import Config

__all__ = [
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "Throttle",
    "Visitor",
    "add_headers",
    "check_csrf",
    "client_address",
    "load_visitor",
    "requires",
    "set_session_cookie",
]

SESSION_COOKIE = "autoposter_session"
# Before login there is no session: the login form's CSRF token is a cookie of its own,
# repeated in the form (double submit).
LOGIN_COOKIE = "autoposter_login"
_RANK = {role: rank for rank, role in enumerate(app.ROLES)}

# No inline script or style anywhere; images of cards come from the feeds' sites.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Visitor:
    """A signed-in person: name, role and the CSRF token of their session."""

    name: str
    role: str
    csrf: str

    @property
    def actor(self) -> str:
        return f"web:{self.name}"

    def can(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]


def config() -> Config:
    found: Config = current_app.config["AUTOPOSTER"]
    return found


def _from_trusted_proxy(conf: Config) -> bool:
    try:
        peer = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(peer in network for network in conf.web.trusted_proxies)


def client_address() -> str:
    """The browser's address: the peer's, or the one a trusted proxy forwarded."""
    conf = config()
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and _from_trusted_proxy(conf):
        return forwarded.split(",")[-1].strip()
    return request.remote_addr or "?"


def load_visitor() -> None:
    """Set ``g.visitor`` from the session cookie or, from a trusted proxy, its header."""
    conf = config()
    g.visitor = None
    g.new_login = None
    token = request.cookies.get(SESSION_COOKIE)
    session = app.session_for(conf, token) if token else None
    header = conf.web.trusted_header
    vouched = request.headers.get(header, "").strip() if header else ""
    # The proxy's word beats a session of someone else on the same browser.
    stale = session is None or session.user != vouched.lower()
    if vouched and stale and _from_trusted_proxy(conf):
        login = app.trusted_login(conf, vouched, address=client_address())
        if login is not None:
            g.new_login = login
            g.visitor = Visitor(login.user, login.role, login.csrf)
        return
    if session is not None:
        g.visitor = Visitor(session.user, session.role, session.csrf)


def check_csrf() -> None:
    """Refuse (403) a POST whose form does not carry its session's token; the login
    form is checked against its own cookie."""
    if request.method != "POST":
        return
    sent = request.form.get("csrf_token", "")
    if request.endpoint == "login":
        expected = request.cookies.get(LOGIN_COOKIE, "")
    else:
        visitor: Visitor | None = g.visitor
        expected = visitor.csrf if visitor is not None else ""
    if not expected or not sent or not hmac.compare_digest(sent, expected):
        abort(403, description="csrf")


def requires(role: str) -> Callable[[F], F]:
    """Only for signed-in people of ``role`` or above: others are sent to log in
    (GET) or refused with 403."""

    def decorate(handler: F) -> F:
        @wraps(handler)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            visitor: Visitor | None = g.visitor
            if visitor is None:
                if request.method == "GET":
                    from flask import redirect, url_for

                    return redirect(url_for("login", next=request.full_path.rstrip("?")))
                abort(403)
            if not visitor.can(role):
                abort(403)
            return handler(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def set_session_cookie(response: Response, token: str | None) -> None:
    """The session cookie (None: removed). HttpOnly, SameSite=Lax, Secure when the
    console's address is https; it lasts as long as the session may."""
    conf = config()
    if token is None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax")
        return
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(conf.web.session_lifetime),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=conf.web.secure_cookies,
    )


def add_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    login = g.get("new_login")
    if login is not None:
        set_session_cookie(response, login.token)
    return response


class Throttle:
    """Failed logins per user name and per address: after ``limit`` failures within
    ``window`` seconds, further attempts are refused until the oldest ages out.

    Kept in this process's memory (the console is one process), bounded to
    ``max_keys`` names and addresses so a flood of invented names cannot fill it.
    """

    def __init__(
        self,
        *,
        limit: int = 5,
        window: float = 900.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self._max_keys = max_keys
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        found = self._failures.get(key, deque())
        while found and found[0] <= now - self.window:
            found.popleft()
        return found

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(key)) >= self.limit for key in keys)

    def failed(self, *keys: str) -> None:
        if len(self._failures) >= self._max_keys:
            for key in [k for k in self._failures if not self._recent(k)]:
                del self._failures[key]
            while len(self._failures) >= self._max_keys:
                del self._failures[next(iter(self._failures))]
        now = self._clock()
        for key in keys:
            recent = self._recent(key)
            recent.append(now)
            self._failures[key] = recent

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


def new_login_token() -> str:
    return secrets.token_urlsafe(32)
