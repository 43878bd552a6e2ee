"""Reputation watch commands: poll the watches, list what was found, send the digest."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta

import click

from autoposter import app
from autoposter.cli.common import common_options, load, local_time
from autoposter.config import Config

_SINCE = re.compile(r"(\d+)\s*([dhm])")
_UNITS = {"d": 86400, "h": 3600, "m": 60}


def _pick(config: Config, name: str | None) -> str | None:
    """``name``, once known to be a configured watch (None: every watch)."""
    if not config.watch.watches:
        raise click.ClickException("no watch is configured: add a 'watch:' section")
    if name is not None and name not in config.watch.watches:
        known = ", ".join(config.watch.watches) or "none"
        raise click.BadParameter(f"unknown watch {name!r} (watches: {known})", param_hint="--watch")
    return name


@click.group()
def watch() -> None:
    """Reputation watch: alerts feeds, Bluesky and Mastodon searches."""


@watch.command("run")
@common_options
@click.option("--once", is_flag=True, required=True, help="Poll every watch once and exit.")
@click.option("--no-alerts", is_flag=True, help="Store what is found, send no immediate alert.")
def watch_run(config_path: str | None, log_format: str, once: bool, no_alerts: bool) -> None:
    """Poll every source of every watch once: store new matches, send alerts, purge old data."""
    config = load(config_path, log_format)
    _pick(config, None)
    failed = 0
    for report in app.run_watches(config, alerts=not no_alerts).reports:
        failed += len(report.errors)
        click.echo(
            f"{report.watch}: {len(report.new)} new, {report.alerted} alerted, "
            f"{len(report.errors)} source(s) failed"
        )
        for source, error in report.errors.items():
            click.echo(f"  {source}: {error}", err=True)
    if failed:
        sys.exit(1)


@click.command()
@common_options
@click.option("--watch", "watch_name", metavar="NAME", help="Only this watch.")
@click.option("--since", default="2d", show_default=True, help="How far back: 2d, 12h, 30m.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
def mentions(
    config_path: str | None, log_format: str, watch_name: str | None, since: str, as_json: bool
) -> None:
    """List what the watches found (already stored; `watch run --once` fetches)."""
    config = load(config_path, log_format, read_only=True)
    match = _SINCE.fullmatch(since.strip().lower())
    if match is None:
        raise click.BadParameter("expected a number and d, h or m, e.g. 2d", param_hint="--since")
    start = datetime.now(UTC) - timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    found = app.mentions(config, since=start, watch=_pick(config, watch_name))
    if as_json:
        click.echo(json.dumps(app.mentions_json(found), ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo("nothing found in that period.")
    for stored in found:
        m = stored.match
        flag = " ALERT" if m.alert else ""
        click.echo(f"{local_time(config, stored.first_seen_at)} [{m.watch}/{m.source}]{flag}")
        click.echo(f"  {m.title or m.text[:100] or '(purged)'}")
        if m.author:
            click.echo(f"  by {m.author}")
        click.echo(f"  {m.url}")


@click.group()
def digest() -> None:
    """The reputation digest."""


@digest.command("send")
@common_options
@click.option("--watch", "watch_name", metavar="NAME", help="Only this watch.")
@click.option(
    "--dry-run", is_flag=True, help="Print the digest that would be sent; send and mark nothing."
)
@click.option("--html", "show_html", is_flag=True, help="With --dry-run: print the HTML part.")
def digest_send(
    config_path: str | None,
    log_format: str,
    watch_name: str | None,
    dry_run: bool,
    show_html: bool,
) -> None:
    """Poll the watches, then send each one's digest of what is new since the last one."""
    config = load(config_path, log_format)
    outcomes = app.send_digests(config, watch=_pick(config, watch_name), dry_run=dry_run)
    for outcome in outcomes:
        built = outcome.digest
        if dry_run and built is not None:
            to = ", ".join(built.recipients) or "(no recipients)"
            click.echo(f"To: {to}\nSubject: {built.subject}\n")
            click.echo(built.html if show_html else built.text)
        elif built is None:
            click.echo(f"{outcome.watch}: nothing new, no digest sent")
        else:
            click.echo(f"{outcome.watch}: digest sent ({len(built.match_ids)} entries)")


COMMANDS: dict[str, click.Command] = {
    "watch": watch,
    "mentions": mentions,
    "digest": digest,
}
