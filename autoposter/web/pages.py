"""One handler per page or action: read the request, call one ``autoposter.app``
operation, render one template (or redirect after a change, so that reloading a page
never repeats a decision)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    abort,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from autoposter import app
from autoposter.errors import AutoposterError, NotFoundError, RefusedError
from autoposter.types import DeliveryState
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
DONE = (
    "approved",
    "rejected",
    "urgent",
    "edited",
    "queued",
    "paused",
    "resumed",
    "user",
    "disabled",
    "retracting",
)


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
def decide_feed(feed: str) -> Response:
    """Approve or reject every delivery held for one feed: a burst-guard batch at once."""
    action = request.form.get("action")
    if action not in ("approve", "reject"):
        return to_approve(error="unknown action", status=400)
    if feed not in config().feeds:
        return to_approve(error="unknown feed", status=400)
    decide_with = app.approve if action == "approve" else app.reject
    result = decide_with(config(), app.Selection(feed=feed, held_only=True), actor=g.visitor.actor)
    done = "approved" if action == "approve" else "rejected"
    n = sum(d.done for d in result.decided)
    return make_response(redirect(url_for("to_approve", done=done, n=n)))


@requires("editor")
def edit_text(delivery_id: int) -> Response:
    try:
        app.edit_text(config(), delivery_id, request.form.get("text", ""), actor=g.visitor.actor)
    except RefusedError as e:
        return to_approve(error=str(e), status=422)
    return make_response(redirect(url_for("to_approve", done="edited") + f"#d{delivery_id}"))


# --- publish now ------------------------------------------------------------------------


def _post_request() -> app.PostRequest:
    return app.PostRequest(
        feed=request.form.get("feed", ""),
        title=request.form.get("title", "")[:500],
        link=request.form.get("link", "")[:2000],
        summary=request.form.get("summary", "")[:5000],
        accounts=tuple(request.form.getlist("account")),
        urgent=request.form.get("urgent") == "yes",
    )


def _publish_page(
    status: int = 200,
    *,
    form: app.PostRequest | None = None,
    previews: tuple[app.PostPreview, ...] = (),
    error: str | None = None,
) -> Response:
    conf = config()
    feed = form.feed if form is not None else next(iter(conf.feeds), "")
    return _page(
        "publish.html",
        status,
        feeds=tuple(conf.feeds),
        accounts=tuple(conf.accounts),
        form=form or app.PostRequest(feed=feed, title="", link=""),
        previews=previews,
        error=error,
    )


@requires("editor")
def publish_form() -> Response:
    return _publish_page()


@requires("editor")
def publish() -> Response:
    """Preview the message on each network, or queue it for the daemon to send."""
    form = _post_request()
    try:
        if request.form.get("action") == "queue":
            app.queue_post(config(), form, actor=g.visitor.actor)
            return make_response(redirect(url_for("dashboard", done="queued")))
        return _publish_page(form=form, previews=app.preview_post(config(), form))
    except (RefusedError, NotFoundError) as e:
        return _publish_page(422, form=form, error=str(e))


# --- history ----------------------------------------------------------------------------

PERIODS = (1, 7, 30, 365)


def _history_filter() -> app.HistoryFilter:
    conf = config()
    account = request.args.get("account") or None
    feed = request.args.get("feed") or None
    state = request.args.get("state") or None
    days = request.args.get("days", 30, type=int)
    return app.HistoryFilter(
        account=account if account in conf.accounts else None,
        feed=feed if feed in conf.feeds else None,
        state=state if state in set(DeliveryState) else None,
        days=days if days in PERIODS else None,
    )


@requires("viewer")
def history() -> Response:
    selected = _history_filter()
    return _page(
        "history.html",
        selected=selected,
        found=app.history(config(), selected),
        periods=PERIODS,
        states=tuple(DeliveryState),
        accounts=tuple(config().accounts),
        feeds=tuple(config().feeds),
        tz=config().tz(),
    )


@requires("viewer")
def export() -> Response:
    """The public record or the audit trail, as CSV or JSON, for the history's filter."""
    events = request.args.get("what") == "events"
    table = app.export_table(config(), _history_filter(), events=events)
    name = "autoposter-events" if events else "autoposter-posted"
    if request.args.get("format") == "json":
        body = json.dumps([dict(row) for row in table.rows], ensure_ascii=False, indent=2)
        response = make_response(body + "\n")
        response.mimetype = "application/json"
        extension = "json"
    else:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=table.fields)
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in table.rows)
        response = make_response(out.getvalue())
        response.mimetype = "text/csv"
        extension = "csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{extension}"'
    return response


def _cell(value: str | int) -> str | int:
    """A feed's text that a spreadsheet would read as a formula is shown as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# --- retracting -------------------------------------------------------------------------


@requires("editor")
def retract_form(item_id: int) -> Response:
    found = app.history(config(), app.HistoryFilter(item=item_id, days=None))
    if not found.deliveries:
        abort(404)
    return _page("retract.html", item_id=item_id, copies=found.deliveries)


@requires("editor")
def retract(item_id: int) -> Response:
    """Record the retraction; the daemon deletes the posts (this process holds no token)."""
    reason = request.form.get("reason", "").strip()[:500]
    if not reason:
        found = app.history(config(), app.HistoryFilter(item=item_id, days=None))
        return _page(
            "retract.html", 422, item_id=item_id, copies=found.deliveries, error="no reason"
        )
    wanted = app.RetractRequest(items=(str(item_id),), reason=reason, carry_out=False)
    report = app.retract(config(), wanted, actor=g.visitor.actor)
    n = len(report.copies)
    return make_response(redirect(url_for("history", done="retracting", n=n, days=1)))


# --- accounts ---------------------------------------------------------------------------


@requires("viewer")
def accounts() -> Response:
    return _page("accounts.html", rows=app.accounts_overview(config()))


@requires("admin")
def pause(name: str) -> Response:
    if name not in config().accounts:
        abort(404)
    reason = request.form.get("reason", "").strip()[:300] or "paused from the console"
    app.pause_account(config(), name, reason=reason, actor=g.visitor.actor)
    return make_response(redirect(url_for("accounts", done="paused")))


@requires("admin")
def resume(name: str) -> Response:
    if name not in config().accounts:
        abort(404)
    app.resume_account(config(), name, actor=g.visitor.actor)
    return make_response(redirect(url_for("accounts", done="resumed")))


# --- users ------------------------------------------------------------------------------


@requires("admin")
def users(status: int = 200, error: str | None = None) -> Response:
    return _page("users.html", status, people=app.list_users(config()), error=error)


@requires("admin")
def add_user() -> Response:
    try:
        app.add_user(
            config(),
            request.form.get("name", "")[:70],
            request.form.get("password", ""),
            request.form.get("role", ""),
            actor=g.visitor.actor,
        )
    except RefusedError as e:
        return users(422, str(e))
    return make_response(redirect(url_for("users", done="user")))


@requires("admin")
def disable_user(name: str) -> Response:
    if name == g.visitor.name:
        return users(422, "you cannot disable yourself")
    try:
        app.disable_user(config(), name, actor=g.visitor.actor)
    except RefusedError as e:
        return users(422, str(e))
    return make_response(redirect(url_for("users", done="disabled")))


# --- the watch --------------------------------------------------------------------------

WATCH_DAYS = 7


@requires("viewer")
def watch() -> Response:
    conf = config()
    since = datetime.now(UTC) - timedelta(days=WATCH_DAYS)
    found = app.mentions(conf, since=since) if conf.watch.watches else []
    newest = sorted(found, key=lambda m: m.first_seen_at, reverse=True)
    return _page(
        "watch.html",
        found=newest,
        watches=tuple(conf.watch.watches),
        days=WATCH_DAYS,
        tz=conf.tz(),
    )


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
    web.add_url_rule("/approve/feed/<feed>", "decide_feed", decide_feed, methods=["POST"])
    web.add_url_rule("/deliveries/<int:delivery_id>/text", "edit_text", edit_text, methods=["POST"])
    web.add_url_rule("/post", "publish_form", publish_form, methods=["GET"])
    web.add_url_rule("/post", "publish", publish, methods=["POST"])
    web.add_url_rule("/history", "history", history, methods=["GET"])
    web.add_url_rule("/history/export", "export", export, methods=["GET"])
    web.add_url_rule("/items/<int:item_id>/retract", "retract_form", retract_form, methods=["GET"])
    web.add_url_rule("/items/<int:item_id>/retract", "retract", retract, methods=["POST"])
    web.add_url_rule("/accounts", "accounts", accounts, methods=["GET"])
    web.add_url_rule("/accounts/<name>/pause", "pause", pause, methods=["POST"])
    web.add_url_rule("/accounts/<name>/resume", "resume", resume, methods=["POST"])
    web.add_url_rule("/users", "users", users, methods=["GET"])
    web.add_url_rule("/users", "add_user", add_user, methods=["POST"])
    web.add_url_rule("/users/<name>/disable", "disable_user", disable_user, methods=["POST"])
    web.add_url_rule("/watch", "watch", watch, methods=["GET"])
    web.register_error_handler(HTTPException, error_page)
    web.register_error_handler(AutoposterError, failure_page)
