"""Commands that look and change nothing: ``check``, ``status``, ``preview``, ``export``,
``queue``."""

from __future__ import annotations

import csv
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, TextIO

import click

from autoposter import app, logs
from autoposter.cli.common import (
    common_options,
    feed_or_fail,
    load,
    local_time,
    since_utc,
)
from autoposter.config import Config, FeedConfig
from autoposter.config.fields import human_duration
from autoposter.errors import AutoposterError
from autoposter.policy import Blackout, DeliveryPolicy
from autoposter.types import DeliveryState

# Past this many, `queue` lists them all: status stays one screen.
STATUS_WAITING_SHOWN = 50

_LISTED = {
    "held": DeliveryState.HELD,
    "pending": DeliveryState.PENDING,
    "failed": DeliveryState.FAILED,
    "unknown": DeliveryState.UNKNOWN,
}


@click.command()
@common_options
@click.option("--online", is_flag=True, help="Also fetch every feed and check every account.")
def check(config_path: str | None, log_format: str, online: bool) -> None:
    """Validate the configuration and print what was understood."""
    config = load(config_path, log_format)
    checks = app.check_accounts(config, online=online)
    for warning in app.config_warnings(config):
        logs.event("config-warning", level=logging.WARNING, warning=warning)
    ok = True
    click.echo(f"configuration: {config.path}")
    click.echo(f"database:      {app.database_label(config)}")
    click.echo(f"timezone:      {config.timezone}")
    click.echo(f"delivery:      {describe_policy(config.delivery)}")
    _echo_alerts(config)
    if config.accounts:
        click.echo(f"accounts ({len(config.accounts)}):")
    for name, account in config.accounts.items():
        line = f"  {name:<20} type={account.type}"
        if account.policy != config.delivery:
            line += f" ({describe_policy(account.policy)})"
        if name in checks:
            ok = ok and checks[name].ok
            line += f"  {'ok' if checks[name].ok else 'FAILED'}: {checks[name].text}"
        click.echo(logs.redact_known(line))
    if config.feeds:
        click.echo(f"feeds ({len(config.feeds)}):")
    for name, feed in config.feeds.items():
        state = "" if feed.enabled else " (disabled)"
        click.echo(f"  {name}{state}")
        click.echo(f"    url:           {feed.url}")
        click.echo(f"    accounts:      {', '.join(feed.accounts)}")
        click.echo(
            f"    poll every:    {human_duration(feed.poll_interval)}, "
            f"burst_limit {feed.burst_limit}"
        )
        click.echo(f"    language:      {feed.language}")
        click.echo(f"    template:      {feed.template!r}")
        _echo_feed_rules(feed)
        if online:
            try:
                probe = app.probe_feed(config, name)
                if probe.not_modified:
                    click.echo("    reachable:     yes (not modified)")
                else:
                    click.echo(f"    reachable:     yes, {len(probe.items)} items")
            except AutoposterError as e:
                ok = False
                click.echo(logs.redact_known(f"    reachable:     NO: {e}"))
    _echo_watches(config)
    smtp = app.check_smtp(config) if online else None
    if smtp is not None:
        ok = ok and smtp.ok
        verdict = "ok" if smtp.ok else "FAILED"
        click.echo(logs.redact_known(f"mail server:   {smtp.server} {verdict}: {smtp.text}"))
    if not ok:
        sys.exit(1)


def describe_policy(policy: DeliveryPolicy) -> str:
    parts = [f"min_interval {human_duration(policy.min_interval)}"]
    if policy.max_per_hour is not None:
        parts.append(f"max {policy.max_per_hour}/hour")
    if policy.max_per_day is not None:
        parts.append(f"max {policy.max_per_day}/day")
    if policy.quiet_hours is not None:
        parts.append(f"quiet {policy.quiet_hours}")
    for blackout in policy.blackouts:
        parts.append(f"blackout {blackout_text(blackout)}")
    parts.append("approval required" if policy.approval else "no approval")
    parts.append(f"{policy.max_attempts} attempts within {human_duration(policy.give_up_after)}")
    return ", ".join(parts)


def blackout_text(blackout: Blackout) -> str:
    """The period as it was written: a whole-day end is stored as the next midnight."""
    start = _moment_text(blackout.start)
    if blackout.end.time() == time(0, 0):
        last_day = (blackout.end - timedelta(days=1)).date()
        text = f"{start} to {last_day:%Y-%m-%d} (inclusive)"
    else:
        text = f"{start} to {_moment_text(blackout.end)}"
    return f"{text}: {blackout.reason}" if blackout.reason else text


def _moment_text(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}" if moment.time() == time(0, 0) else f"{moment:%Y-%m-%d %H:%M}"


def _echo_alerts(config: Config) -> None:
    """Where alerts go: the mail server (never its password), the recipients, a webhook."""
    smtp = config.smtp
    if smtp is None:
        click.echo("smtp:          no SMTP: alerts go to the log")
    else:
        login = f", login {smtp.username}" if smtp.username else ", no login"
        click.echo(f"smtp:          {smtp.host}:{smtp.port} {smtp.security}{login}")
    alerts = [*config.alerts.email, *(["webhook"] if config.alerts.webhook_url else [])]
    click.echo(f"alerts to:     {', '.join(alerts) or 'the log only'}")


def _echo_feed_rules(feed: FeedConfig) -> None:
    """What decides whether and when the feed's items go out; only the rules it has."""
    click.echo(f"    approval:      {'required' if feed.approval else 'not required'}")
    if feed.hashtags:
        click.echo(f"    hashtags:      {', '.join(feed.hashtags)}")
    if not feed.include.is_empty() or not feed.exclude.is_empty():
        click.echo(f"    include:       {_filter_text(feed.include)}")
        click.echo(f"    exclude:       {_filter_text(feed.exclude)}")
    if not feed.urgent.is_empty():
        click.echo(f"    urgent:        {_filter_text(feed.urgent)}")
    if feed.window.quiet_hours is not None:
        click.echo(f"    quiet hours:   {feed.window.quiet_hours}")
    for blackout in feed.window.blackouts:
        click.echo(f"    blackout:      {blackout_text(blackout)}")


def _echo_watches(config: Config) -> None:
    """Each watch: what it looks for, where, and whom its digest goes to, and when."""
    watches = config.watch.watches
    if watches:
        click.echo(f"watches ({len(watches)}):")
    for name, watch in watches.items():
        click.echo(f"  {name}")
        if watch.keywords:
            click.echo(f"    keywords:      {', '.join(watch.keywords)}")
        if watch.alert_keywords:
            click.echo(f"    alert on:      {', '.join(watch.alert_keywords)}")
        by_type: dict[str, list[str]] = {}
        for source in watch.sources:
            by_type.setdefault(source.type, []).append(source.name)
        for kind, names in by_type.items():
            click.echo(f"    {kind + ':':<14} {', '.join(names)}")
        kind, at = watch.digest
        schedule = "hourly" if at is None else f"{kind} {at:%H:%M}"
        click.echo(f"    digest:        {schedule}")
        click.echo(f"    recipients:    {', '.join(watch.recipients) or 'none'}")


def _filter_text(rule: Any) -> str:
    parts = []
    if rule.categories:
        parts.append("categories " + ", ".join(rule.categories))
    if rule.keywords:
        parts.append("keywords " + ", ".join(rule.keywords))
    return "; ".join(parts) or "-"


@click.command()
@common_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--last", type=click.IntRange(min=0), default=10, show_default=True)
def status(config_path: str | None, log_format: str, as_json: bool, last: int) -> None:
    """Feeds, accounts and the last deliveries."""
    config = load(config_path, log_format, read_only=True)
    snapshot = app.status(config, last=last)
    if as_json:
        data = {
            "feeds": [_jsonable(f) for f in snapshot.feeds],
            "accounts": {a.account: a.counts for a in snapshot.accounts},
            "recent": [_jsonable(r) for r in snapshot.recent],
            "held": [_jsonable(r) for r in snapshot.held],
            "unknown": [_jsonable(r) for r in snapshot.unknown],
            "paused": dict(snapshot.paused),
            "waiting": [
                {
                    "id": w.delivery.id,
                    "account": w.delivery.account,
                    "feed": w.delivery.feed,
                    "title": w.delivery.item.title,
                    "reason": None if w.wait is None else str(w.wait.reason),
                    "until": None
                    if w.wait is None or w.wait.until is None
                    else w.wait.until.isoformat(),
                    "detail": None if w.wait is None else w.wait.detail,
                }
                for w in snapshot.waiting
            ],
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if snapshot.feeds:
        click.echo("feeds:")
    for f in snapshot.feeds:
        click.echo(
            f"  {f.name:<20} items={f.items:<6} last poll {local_time(config, f.last_polled_at)}"
            f"  last success {local_time(config, f.last_success_at)}"
        )
        if f.last_error:
            click.echo(f"  {'':<20} ERROR ({f.failures} in a row): {f.last_error}")
    if snapshot.accounts or snapshot.paused:
        click.echo("accounts:")
    counted = {a.account: a.counts for a in snapshot.accounts}
    for name in [*counted, *sorted(set(snapshot.paused) - set(counted))]:
        counts = " ".join(
            f"{state}={counted.get(name, {}).get(state, 0)}"
            for state in ("sent", "pending", "sending", "held", "failed", "unknown", "skipped")
        )
        # Retractions, only where there are some: most accounts never have one.
        for state in ("retracting", "removing", "retracted", "retract_failed"):
            if counted.get(name, {}).get(state):
                counts += f" {state}={counted[name][state]}"
        click.echo(f"  {name:<20} {counts}")
        if name in snapshot.paused:
            click.echo(f"  {'':<20} PAUSED: {snapshot.paused[name]}")
            click.echo(f"  {'':<20} (autoposter account resume {name})")
    if snapshot.waiting:
        click.echo("waiting:")
    for w in snapshot.waiting[:STATUS_WAITING_SHOWN]:
        d = w.delivery
        why = app.describe_wait(config, w.wait, snapshot.at)
        click.echo(f"  #{d.id} {d.account} · {d.item.title[:50]} · {why}")
    if len(snapshot.waiting) > STATUS_WAITING_SHOWN:
        more = len(snapshot.waiting) - STATUS_WAITING_SHOWN
        click.echo(f"  ... and {more} more (autoposter queue --state pending --state held)")
    if snapshot.unknown:
        click.echo("unknown (check, then retry or skip):")
    for r in snapshot.unknown:
        click.echo(f"  #{r.id} {r.account} · {r.title[:60]} · {r.last_error or ''}")
    if snapshot.recent:
        click.echo("last deliveries:")
    for r in snapshot.recent:
        where = r.remote_url or r.last_error or ""
        when = local_time(config, r.updated_at)
        click.echo(f"  #{r.id} {when} {r.account} {r.state} {r.title[:50]} {where}")
    if not (snapshot.feeds or snapshot.accounts or snapshot.paused):
        click.echo("nothing yet: no feed polled (autoposter run).")


def _jsonable(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in row.__dataclass_fields__:
        value = getattr(row, key)
        out[key] = value.isoformat() if isinstance(value, datetime | date) else value
    return out


@click.command()
@common_options
@click.argument("feed")
@click.option("--limit", type=click.IntRange(min=1), default=3, show_default=True)
def preview(config_path: str | None, log_format: str, feed: str, limit: int) -> None:
    """Show the latest items of FEED as each account would receive them. Stores nothing."""
    config = load(config_path, log_format, read_only=True)
    feed_or_fail(config, feed)
    for entry in app.preview(config, feed, limit=limit).entries:
        item = entry.item
        click.echo(f"=== {item.title}")
        click.echo(f"    {item.link}  ({item.language}, {local_time(config, item.published)})")
        if not entry.routed:
            click.echo("    (filtered out by include/exclude: not posted)")
            continue
        for rendered in entry.posts:
            post = rendered.post
            length = post.extra.get("length", f"{len(post.text)} characters")
            click.echo(f"--- {rendered.account} ({length})")
            click.echo(post.text)
            for key in ("card", "embed", "visibility", "spoiler_text"):
                if post.extra.get(key):
                    click.echo(f"[{key}: {post.extra[key]}]")
            if post.image is not None:
                click.echo(f"[image {post.image.url} alt: {post.image.alt or '(none)'}]")
        click.echo()


@click.command()
@common_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "csv-excel", "json"]),
    default="csv",
    show_default=True,
    help="csv-excel: for LibreOffice Calc and Excel set to French: ';' between columns, "
    "UTF-8 with a BOM, local times (the configured timezone) to the second.",
)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Only from this date on.")
@click.option("--events", is_flag=True, help="The full audit trail instead: every state change.")
@click.option(
    "--output", type=click.File("w", encoding="utf-8"), default="-", help="Default: stdout."
)
def export(
    config_path: str | None,
    log_format: str,
    fmt: str,
    since: datetime | None,
    events: bool,
    output: TextIO,
) -> None:
    """What was posted where and when, with each post's address: the public record."""
    config = load(config_path, log_format, read_only=True)
    start = since_utc(config, since)
    spreadsheet = fmt == "csv-excel"

    def when(moment: datetime) -> str:
        # A spreadsheet reads "2026-12-08 07:00:00" as a date and time; it has no
        # use for an offset or microseconds, and its users think in local time.
        if spreadsheet:
            return moment.astimezone(config.tz()).strftime("%Y-%m-%d %H:%M:%S")
        return moment.isoformat()

    rows: list[dict[str, Any]]
    if events:
        rows = [dict(app.event_row(e, when)) for e in app.export_events(config, since=start)]
    else:
        rows = [dict(app.posted_row(p, when)) for p in app.export_posted(config, since=start)]
    if fmt == "json":
        output.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    fields = (
        ["time", "delivery", "account", "link", "from", "to", "actor", "detail"]
        if events
        else ["sent_at", "account", "feed", "title", "link", "post_url", "post_id", "delivery"]
    )
    if spreadsheet:
        # The BOM tells the spreadsheet it is UTF-8 (accents); ';' is the list separator
        # where the decimal separator is ','.
        output.write("\ufeff")
        writer = csv.DictWriter(output, fieldnames=fields, delimiter=";")
    else:
        writer = csv.DictWriter(output, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)


@click.command()
@common_options
@click.option(
    "--state",
    "states",
    type=click.Choice(sorted(_LISTED)),
    multiple=True,
    help="Which deliveries (repeatable). Default: held, unknown and failed.",
)
def queue(config_path: str | None, log_format: str, states: Sequence[str]) -> None:
    """List deliveries waiting for a decision, with the text each would post."""
    config = load(config_path, log_format, read_only=True)
    wanted = [_LISTED[s] for s in states] or [
        DeliveryState.HELD,
        DeliveryState.UNKNOWN,
        DeliveryState.FAILED,
    ]
    listing = app.queue(config, wanted)
    for account, reason in sorted(listing.paused.items()):
        click.echo(f"account {account} is PAUSED: {reason}")
        click.echo(f"  (autoposter account resume {account})")
    for entry in listing.entries:
        _show(config, entry)
    if not listing.entries:
        click.echo("nothing waits for a decision.")


def _show(config: Config, entry: app.QueueEntry) -> None:
    delivery = entry.delivery
    why = delivery.hold_reason or delivery.last_error or ""
    click.echo(
        f"#{delivery.id} {delivery.state} · {delivery.account} · {delivery.feed}"
        f" · {local_time(config, delivery.created_at)}" + (" · URGENT" if delivery.urgent else "")
    )
    if why:
        click.echo(f"  why: {why}")
    if entry.text is None:
        click.echo(f"  (account {delivery.account} is no longer in the configuration)")
        click.echo(f"  {delivery.item.title}\n  {delivery.item.link}")
        return
    for line in entry.text.splitlines():
        click.echo(f"  │ {line}")
    click.echo()


COMMANDS: dict[str, click.Command] = {
    "check": check,
    "status": status,
    "preview": preview,
    "export": export,
    "queue": queue,
}
