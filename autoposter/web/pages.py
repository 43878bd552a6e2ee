"""One handler per page or action: read the request, call one ``autoposter.app``
operation, render one template (or redirect after a change, so that reloading a page
never repeats a decision)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from autoposter import app
from autoposter.errors import AutoposterError, RefusedError
from autoposter.web.security import (
    LOGIN_COOKIE,
    client_address,
    config,
    new_login_token,
    requires,
    set_session_cookie,
)

__all__ = ["register"]

# The messages a redirect may ask a page to show (``?done=``); anything else shows nothing.
DONE = ("approved", "rejected", "urgent", "edited", "queued", "paused", "resumed", "user")


def _page(template: str, status: int = 200, **context: Any) -> Response:
    done = request.args.get("done")
    response = make_response(
        render_template(
            template,
            visitor=g.get("visitor"),
            done=done if done in DONE else None,
            count=request.args.get("n", type=int),
            **context,
        ),
        status,
    )
    return response


def _ids(field: str) -> tuple[int, ...]:
    return tuple(int(v) for v in request.form.getlist(field) if v.isdigit())


def _local(target: str | None) -> str:
    """Where to go after logging in: a path of this site only."""
    if not target:
        return url_for("dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("dashboard")
    return target


# --- signing in and out -----------------------------------------------------------------


def login_form() -> Response:
    if g.visitor is not None:
        return make_response(redirect(url_for("dashboard")))
    return _login_page()


def _login_page(status: int = 200, error: str | None = None) -> Response:
    token = new_login_token()
    response = _page("login.html", status, csrf=token, error=error, next=request.args.get("next"))
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="Strict",
        secure=config().web.secure_cookies,
    )
    return response


def login() -> Response:
    name = request.form.get("name", "").strip().lower()[:64]
    address = client_address()
    throttle = g.throttle
    keys = (f"user:{name}", f"address:{address}")
    if throttle.blocked(*keys):
        return _login_page(429, "throttled")
    found = app.log_in(config(), name, request.form.get("password", ""), address=address)
    if found is None:
        throttle.failed(*keys)
        return _login_page(401, "wrong")
    throttle.succeeded(f"user:{name}")
    response = make_response(redirect(_local(request.form.get("next"))))
    set_session_cookie(response, found.token)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@requires("viewer")
def logout() -> Response:
    token = request.cookies.get("autoposter_session")
    if token:
        app.log_out(config(), token)
    response = make_response(redirect(url_for("login_form", done="logout")))
    set_session_cookie(response, None)
    return response


# --- pages ------------------------------------------------------------------------------


@requires("viewer")
def dashboard() -> Response:
    settings = config()
    board = app.dashboard(settings)
    return _page(
        "dashboard.html",
        board=board,
        tz=settings.tz(),
        why=lambda wait: app.describe_wait(settings, wait),
    )


@requires("viewer")
def to_approve(error: str | None = None, status: int = 200) -> Response:
    return _page("approve.html", status, items=app.to_approve(config()), error=error)


@requires("editor")
def decide(item_id: int) -> Response:
    """Approve, reject or mark urgent the checked networks of one item (all of them
    when none is named)."""
    action = request.form.get("action")
    ids = _ids("delivery")
    selection = app.Selection(ids=ids) if ids else app.Selection(item=item_id, held_only=True)
    if action == "urgent":
        n = app.mark_urgent(config(), ids, actor=g.visitor.actor)
        return make_response(redirect(url_for("to_approve", done="urgent", n=n)))
    if action not in ("approve", "reject"):
        return to_approve(error="unknown action", status=400)
    decide_with = app.approve if action == "approve" else app.reject
    result = decide_with(config(), selection, actor=g.visitor.actor)
    done = "approved" if action == "approve" else "rejected"
    n = sum(d.done for d in result.decided)
    return make_response(redirect(url_for("to_approve", done=done, n=n)))


@requires("editor")
def decide_many() -> Response:
    """Approve or reject every held delivery of the checked items."""
    action = request.form.get("action")
    if action not in ("approve", "reject"):
        return to_approve(error="unknown action", status=400)
    items = _ids("item")
    if not items:
        return to_approve(error="nothing selected", status=400)
    decide_with = app.approve if action == "approve" else app.reject
    n = 0
    for item_id in items:
        result = decide_with(
            config(), app.Selection(item=item_id, held_only=True), actor=g.visitor.actor
        )
        n += sum(d.done for d in result.decided)
    done = "approved" if action == "approve" else "rejected"
    return make_response(redirect(url_for("to_approve", done=done, n=n)))


@requires("editor")
def edit_text(delivery_id: int) -> Response:
    try:
        app.edit_text(config(), delivery_id, request.form.get("text", ""), actor=g.visitor.actor)
    except RefusedError as e:
        return to_approve(error=str(e), status=422)
    return make_response(redirect(url_for("to_approve", done="edited") + f"#d{delivery_id}"))


def error_page(e: HTTPException) -> Response:
    code = e.code or 500
    reason = "csrf" if e.description == "csrf" else None
    return _page("error.html", code, code=code, reason=reason)


def failure_page(e: AutoposterError) -> Response:
    return _page("error.html", 500, code=500, reason="failure", message=str(e))


def register(web: Flask) -> None:
    web.before_request(lambda: setattr(g, "throttle", web.config["THROTTLE"]))
    web.add_url_rule("/login", "login_form", login_form, methods=["GET"])
    web.add_url_rule("/login", "login", login, methods=["POST"])
    web.add_url_rule("/logout", "logout", logout, methods=["POST"])
    web.add_url_rule("/", "dashboard", dashboard, methods=["GET"])
    web.add_url_rule("/approve", "to_approve", to_approve, methods=["GET"])
    web.add_url_rule("/approve", "decide_many", decide_many, methods=["POST"])
    web.add_url_rule("/approve/<int:item_id>", "decide", decide, methods=["POST"])
    web.add_url_rule("/deliveries/<int:delivery_id>/text", "edit_text", edit_text, methods=["POST"])
    web.register_error_handler(HTTPException, error_page)
    web.register_error_handler(AutoposterError, failure_page)
