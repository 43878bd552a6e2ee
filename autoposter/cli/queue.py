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


# A range such as 1-100000 is a typing mistake, not a burst to decide on.
MAX_RANGE = 10_000


def parse_ids(words: Sequence[str]) -> tuple[int, ...]:
    """Delivery ids as typed: ``3 9-12 15`` -> 3, 9, 10, 11, 12, 15, in that order, each once."""
    ids: dict[int, None] = {}
    for word in words:
        first, dash, last = word.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise click.BadParameter(
                f"{word!r} is not a delivery id or a range such as 9-32", param_hint="IDS"
            )
        low, high = int(first), int(last) if dash else int(first)
        if low < 1 or high < low:
            raise click.BadParameter(
                f"{word!r}: ids start at 1, and a range goes up (9-32)", param_hint="IDS"
            )
        if high - low >= MAX_RANGE:
            raise click.BadParameter(
                f"{word!r}: more than {MAX_RANGE} ids; give a shorter range", param_hint="IDS"
            )
        ids.update(dict.fromkeys(range(low, high + 1)))
    return tuple(ids)


def _states(decision: app.Decision) -> str:
    names = [str(state) for state in app.APPLIES_TO[decision]]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _decision(
    decision: app.Decision, decide: Decide, verb: str, refused: str, *, doc: str
) -> click.Command:
    """A command for one decision over IDS (ids and ranges), or over every delivery it
    applies to: of one item (--item), of one feed (--feed), or all of them (--all)."""
    states = _states(decision)

    def command(
        config_path: str | None,
        log_format: str,
        ids: Sequence[str],
        item: int | None,
        feed: str | None,
        every: bool,
        yes: bool,
        all_held: bool = False,
    ) -> None:
        # --all-held, the name of --all before it applied to every decision, kept its
        # behaviour (no question) for the scripts written with it.
        every, yes = every or all_held, yes or all_held
        chosen = item is not None or feed is not None or every
        if not ids and not chosen:
            raise click.UsageError("Missing argument 'IDS...' (or --item, --feed, --all).")
        if ids and chosen:
            raise click.UsageError("give IDS or a selection option, not both.")
        if every and (item is not None or feed is not None):
            raise click.UsageError("--all is every one; leave out --item and --feed.")
        numbers = parse_ids(ids)
        config = load(config_path, log_format)
        if feed is not None:
            feed_or_fail(config, feed)
        selection = app.Selection(ids=numbers, item=item, feed=feed)
        if every:
            found = app.matching(config, decision, selection)
            if not found:
                click.echo(f"no {states} delivery; nothing done.")
                return
            question = f"{decision} {len(found)} {states} deliveries?"
            if not yes and not click.confirm(question):
                raise click.exceptions.Abort
            selection = app.Selection(ids=found)
        result = decide(config, selection, actor=actor())
        for decided in result.decided:
            if decided.done:
                click.echo(f"#{decided.delivery}: {verb}")
            else:
                state = "no such delivery" if decided.state is None else f"it is {decided.state}"
                click.echo(f"#{decided.delivery}: {refused} ({state}); nothing done", err=True)
        if not result.decided:
            click.echo("no delivery matches; nothing done.")
        elif len(result.decided) > 1:
            done = sum(1 for d in result.decided if d.done)
            click.echo(f"{done} of {len(result.decided)} {verb}.")
        if not result.ok:
            sys.exit(1)

    params: Any = command
    if decision in (app.Decision.APPROVE, app.Decision.REJECT):
        params = click.option("--all-held", "all_held", is_flag=True, hidden=True)(params)
    params = click.option(
        "--yes", "-y", is_flag=True, help="With --all: do not ask for a confirmation."
    )(params)
    params = click.option(
        "--all",
        "every",
        is_flag=True,
        help=f"Every {states} delivery (counted, then confirmed).",
    )(params)
    params = click.option("--feed", metavar="NAME", help=f"Every {states} delivery of feed NAME.")(
        params
    )
    params = click.option(
        "--item",
        type=click.IntRange(min=1),
        metavar="ID",
        help=f"Every {states} delivery of item ID.",
    )(params)
    params = click.argument("ids", nargs=-1, metavar="[IDS]...")(params)
    params = common_options(params)
    help_text = f"{doc}\n\nIDS are delivery ids and ranges: 3 9-12 15. It acts on {states} ones."
    return click.command(str(decision), help=help_text)(params)


approve = _decision(
    app.Decision.APPROVE, app.approve, "approved", "not held", doc="Let held deliveries go out."
)
reject = _decision(
    app.Decision.REJECT, app.reject, "rejected", "not held", doc="Drop held deliveries for good."
)
retry = _decision(
    app.Decision.RETRY,
    app.retry,
    "queued again",
    "not failed or unknown",
    doc="Send failed or unknown deliveries again, with the same idempotency key.",
)
skip = _decision(
    app.Decision.SKIP,
    app.skip,
    "skipped",
    "already sent or skipped",
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
    for outcome in result.outcomes:
        if outcome.state == "sent":
            click.echo(f"  {outcome.account}: sent {outcome.url or ''}".rstrip())
        elif outcome.ok:
            click.echo(f"  {outcome.account}: waiting, {app.describe_wait(config, outcome.wait)}")
        elif outcome.wait is not None:
            click.echo(
                f"  {outcome.account}: FAILED, {app.describe_wait(config, outcome.wait)}", err=True
            )
        else:
            click.echo(f"  {outcome.account}: FAILED ({outcome.state}): {outcome.error}", err=True)
    click.echo(
        f"item {result.item}: {result.sent} posted now, {result.waiting} waiting "
        f"(the daemon sends them), {result.failed} failed."
    )
    if not result.ok:
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
    own = config.feeds[feed].accounts
    for account in accounts:
        if account not in own:
            known = "is not configured" if account not in config.accounts else "does not post it"
            raise click.BadParameter(
                f"account {account!r} {known}; feed {feed!r} posts to: {', '.join(own)}",
                param_hint="--account",
            )
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
        return
    if result.held:
        click.echo(
            f"{result.held} held for approval: see `autoposter queue`, then "
            f"`autoposter approve --feed {feed}`."
        )


COMMANDS: dict[str, click.Command] = {
    "approve": approve,
    "reject": reject,
    "retry": retry,
    "skip": skip,
    "post": post,
    "backfill": backfill,
}
