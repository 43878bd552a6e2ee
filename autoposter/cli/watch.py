"""Reputation watch commands: poll the watches, list what was found, send the digest."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from autoposter.cli.common import common_options, load, local_time
from autoposter.config import Config

if TYPE_CHECKING:
    from autoposter.watch.run import Watcher

_SINCE = re.compile(r"(\d+)\s*([dhm])")
_UNITS = {"d": 86400, "h": 3600, "m": 60}


@contextmanager
def _watcher(config: Config) -> Iterator[Watcher]:
    if not config.watch.watches:
        raise click.ClickException("no watch is configured: add a 'watch:' section")
    # Imported here: its HTTP client costs every other command (the console) memory.
    from autoposter.watch.run import Watcher

    with Watcher.open(config) as watcher:
        yield watcher


def _pick(config: Config, name: str | None) -> list[str]:
    if name is None:
        return list(config.watch.watches)
    if name not in config.watch.watches:
        known = ", ".join(config.watch.watches) or "none"
        raise click.BadParameter(f"unknown watch {name!r} (watches: {known})", param_hint="--watch")
    return [name]


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
    failed = 0
    with _watcher(config) as watcher:
        for report in watcher.poll_all(alerts=not no_alerts):
            failed += len(report.errors)
            click.echo(
                f"{report.watch}: {len(report.new)} new, {report.alerted} alerted, "
                f"{len(report.errors)} source(s) failed"
            )
            for source, error in report.errors.items():
                click.echo(f"  {source}: {error}", err=True)
        watcher.purge()
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
    config = load(config_path, log_format)
    match = _SINCE.fullmatch(since.strip().lower())
    if match is None:
        raise click.BadParameter("expected a number and d, h or m, e.g. 2d", param_hint="--since")
    start = datetime.now(UTC) - timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    names = _pick(config, watch_name)
    with _watcher(config) as watcher:
        found = [m for name in names for m in watcher.store.since(start, name)]
    if as_json:
        from autoposter.watch.notify import match_json

        click.echo(json.dumps([match_json(m) for m in found], ensure_ascii=False, indent=2))
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
    names = _pick(config, watch_name)
    with _watcher(config) as watcher:
        for name in names:
            # Alerts are the daemon's job; a digest run, and a dry run above all, sends none.
            watcher.poll(name, alerts=False)
            if dry_run:
                built, _matches = watcher.build_digest(name)
                to = ", ".join(built.recipients) or "(no recipients)"
                click.echo(f"To: {to}\nSubject: {built.subject}\n")
                click.echo(built.html if show_html else built.text)
                continue
            sent = watcher.send_digest(name)
            if sent is None:
                click.echo(f"{name}: nothing new, no digest sent")
            else:
                click.echo(f"{name}: digest sent ({len(sent.match_ids)} entries)")


COMMANDS = (watch, mentions, digest)
