"""Decisions on the delivery queue: ``approve``, ``reject``, ``skip``, ``retry``, and
posting on purpose: ``post``, ``backfill``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import click

from autoposter import app
from autoposter.cli.common import (
    account_or_fail,
    actor,
    common_options,
    feed_or_fail,
    load,
    since_utc,
)
from autoposter.config import Config


class Decide(Protocol):
    def __call__(
        self, config: Config, selection: app.Selection, *, actor: str
    ) -> app.Decisions: ...


def _decision(
    name: str, decide: Decide, verb: str, refused: str, *, held: bool, doc: str
) -> click.Command:
    """A command for one decision over IDS, or over every delivery it applies to of one
    item (--item), of one feed (--feed), or (with ``held``) every held one (--all-held)."""

    def command(
        config_path: str | None,
        log_format: str,
        ids: Sequence[int],
        item: int | None,
        feed: str | None,
        all_held: bool = False,
    ) -> None:
        chosen = item is not None or feed is not None or all_held
        if not ids and not chosen:
            options = "--item, --feed, --all-held" if held else "--item, --feed"
            raise click.UsageError(f"Missing argument 'IDS...' (or {options}).")
        if ids and chosen:
            raise click.UsageError("give IDS or a selection option, not both.")
        config = load(config_path, log_format)
        if feed is not None:
            feed_or_fail(config, feed)
        selection = app.Selection(ids=tuple(ids), item=item, feed=feed, held_only=all_held)
        result = decide(config, selection, actor=actor())
        for decided in result.decided:
            if decided.done:
                click.echo(f"#{decided.delivery}: {verb}")
            else:
                state = "no such delivery" if decided.state is None else f"it is {decided.state}"
                click.echo(f"#{decided.delivery}: {refused} ({state}); nothing done", err=True)
        if not result.decided:
            click.echo("no delivery matches; nothing done.")
        if not result.ok:
            sys.exit(1)

    params: Any = command
    if held:
        params = click.option("--all-held", "all_held", is_flag=True, help="Every held one.")(
            params
        )
    params = click.option("--feed", metavar="NAME", help="Every one of feed NAME.")(params)
    params = click.option(
        "--item", type=click.IntRange(min=1), metavar="ID", help="Every one of item ID."
    )(params)
    params = click.argument("ids", nargs=-1, type=click.IntRange(min=1))(params)
    params = common_options(params)
    return click.command(name, help=doc)(params)


approve = _decision(
    "approve", app.approve, "approved", "not held", held=True, doc="Let held deliveries go out."
)
reject = _decision(
    "reject", app.reject, "rejected", "not held", held=True, doc="Drop held deliveries for good."
)
retry = _decision(
    "retry",
    app.retry,
    "queued again",
    "not failed or unknown",
    held=False,
    doc="Send failed or unknown deliveries again, with the same idempotency key.",
)
skip = _decision(
    "skip",
    app.skip,
    "skipped",
    "already sent or skipped",
    held=True,
    doc="Never send these deliveries (pending, held, failed or unknown).",
)


@click.command()
@common_options
@click.argument("feed")
@click.option("--title", required=True, help="The post's title.")
@click.option("--link", required=True, help="The page on your site it links to.")
@click.option("--summary", default="", help="A short text under the title.")
@click.option("--account", "accounts", multiple=True, help="Only this account (repeatable).")
@click.option(
    "--urgent", is_flag=True, help="Not held by quiet hours, blackouts or pacing (an alert)."
)
def post(
    config_path: str | None,
    log_format: str,
    feed: str,
    title: str,
    link: str,
    summary: str,
    accounts: Sequence[str],
    urgent: bool,
) -> None:
    """Post something now to FEED's accounts, written with FEED's template."""
    config = load(config_path, log_format)
    if feed not in config.feeds:
        raise click.BadParameter(f"no feed named {feed!r}", param_hint="FEED")
    if not link.startswith(("https://", "http://")):
        raise click.BadParameter("expected an http(s) address", param_hint="--link")
    for name in accounts:
        account_or_fail(config, name)
    request = app.PostRequest(
        feed=feed,
        title=title,
        link=link,
        summary=summary,
        accounts=tuple(accounts),
        urgent=urgent,
    )
    result = app.post_now(config, request, actor=actor())
    click.echo(
        f"item {result.item}: {result.sent} posted now, {result.waiting} waiting "
        f"(quiet hours, pacing or a paused account; the daemon sends them), "
        f"{result.failed} failed."
    )
    if result.failed:
        sys.exit(1)


class _Progress:
    """Backfill's progress on the terminal: what was queued, then a bar on stderr."""

    def __init__(self, feed: str) -> None:
        self._feed = feed
        self._bar: Any = None

    def queued(self, created: int, already: int) -> None:
        click.echo(f"{self._feed}: {created} deliveries queued ({already} already queued or sent).")
        self._bar = click.progressbar(length=created, label="posting", file=sys.stderr)
        self._bar.__enter__()

    def sent_one(self) -> None:
        self._bar.update(1)

    def batch_failed(self, failed: int) -> None:
        click.echo(f"{failed} failed; see `autoposter status`.", err=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@click.command()
@common_options
@click.argument("feed")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Only items published since.")
@click.option("--limit", type=click.IntRange(min=1), help="At most N items (the newest).")
@click.option("--account", "accounts", multiple=True, help="Only this account (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would be posted; post nothing.")
def backfill(
    config_path: str | None,
    log_format: str,
    feed: str,
    since: datetime | None,
    limit: int | None,
    accounts: Sequence[str],
    dry_run: bool,
) -> None:
    """Post older items of FEED on purpose, the baseline's included.

    An item already delivered to an account is never posted there again.
    """
    config = load(config_path, log_format)
    feed_or_fail(config, feed)
    for account in accounts:
        if account not in config.accounts:
            raise click.BadParameter(f"no account named {account!r}", param_hint="--account")
    request = app.BackfillRequest(
        feed=feed,
        since=since_utc(config, since),
        limit=limit,
        accounts=tuple(accounts),
        dry_run=dry_run,
    )
    progress = _Progress(feed)
    try:
        result = app.backfill(config, request, actor=actor(), progress=progress)
    finally:
        progress.close()
    if not result.items:
        click.echo(f"{feed}: no stored items match.")
        return
    if dry_run:
        for item, rendered in result.rendered:
            click.echo(f"--- {rendered.account} · {item.link}")
            click.echo(rendered.post.text)
        click.echo(
            f"(dry run: {len(result.items)} items x {len(result.accounts)} accounts, "
            "nothing posted)"
        )


COMMANDS: dict[str, click.Command] = {
    "approve": approve,
    "reject": reject,
    "retry": retry,
    "skip": skip,
    "post": post,
    "backfill": backfill,
}
