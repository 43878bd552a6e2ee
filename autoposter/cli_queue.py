"""Operator commands over the delivery queue: see it, decide, and keep the public record."""

from __future__ import annotations

import csv
import json
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import click

from autoposter.cli_common import actor, common_options, load, local_time
from autoposter.config import Config
from autoposter.pipeline import dispatch_due, spec_for
from autoposter.runtime import Runtime, build_publishers
from autoposter.storage import DueDelivery, NewItem, PlannedDelivery, Storage
from autoposter.types import DeliveryState, Item

_LISTED = {
    "held": DeliveryState.HELD,
    "pending": DeliveryState.PENDING,
    "failed": DeliveryState.FAILED,
    "unknown": DeliveryState.UNKNOWN,
}


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
    config = load(config_path, log_format)
    wanted = [_LISTED[s] for s in states] or [
        DeliveryState.HELD,
        DeliveryState.UNKNOWN,
        DeliveryState.FAILED,
    ]
    publishers = build_publishers(config)
    try:
        with Storage.open(config.database) as storage:
            paused = storage.paused_accounts()
            for account, reason in sorted(paused.items()):
                click.echo(f"account {account} is PAUSED: {reason}")
                click.echo(f"  (autoposter account resume {account})")
            shown = 0
            for state in wanted:
                for delivery in storage.deliveries_in(state):
                    shown += 1
                    _show(config, delivery, publishers.get(delivery.account))
            if not shown:
                click.echo("nothing waits for a decision.")
    finally:
        for publisher in publishers.values():
            publisher.close()


def _show(config: Config, delivery: DueDelivery, publisher: Any) -> None:
    why = delivery.hold_reason or delivery.last_error or ""
    click.echo(
        f"#{delivery.id} {delivery.state} · {delivery.account} · {delivery.feed}"
        f" · {local_time(config, delivery.created_at)}" + (" · URGENT" if delivery.urgent else "")
    )
    if why:
        click.echo(f"  why: {why}")
    if publisher is None:
        click.echo(f"  (account {delivery.account} is no longer in the configuration)")
        click.echo(f"  {delivery.item.title}\n  {delivery.item.link}")
        return
    try:
        post = publisher.render(
            delivery.item, spec_for(config, delivery.feed, delivery.account, delivery.item)
        )
        text = post.text
    except ValueError as e:
        text = f"(cannot render: {e})"
    for line in text.splitlines():
        click.echo(f"  │ {line}")
    click.echo()


def _act(
    config_path: str | None,
    log_format: str,
    ids: Sequence[int],
    verb: str,
    act: Any,
    refused: str,
) -> None:
    config = load(config_path, log_format)
    failed = False
    with Storage.open(config.database) as storage:
        for delivery_id in ids:
            if act(storage, delivery_id, datetime.now(UTC), actor()):
                click.echo(f"#{delivery_id}: {verb}")
            else:
                failed = True
                found = storage.delivery(delivery_id)
                state = "no such delivery" if found is None else f"it is {found.state}"
                click.echo(f"#{delivery_id}: {refused} ({state}); nothing done", err=True)
    if failed:
        sys.exit(1)


_IDS = click.argument("ids", nargs=-1, type=click.IntRange(min=1), required=True)


@click.command()
@common_options
@_IDS
def approve(config_path: str | None, log_format: str, ids: Sequence[int]) -> None:
    """Let held deliveries go out."""
    _act(
        config_path,
        log_format,
        ids,
        "approved",
        lambda s, i, at, who: s.release(i, at, actor=who, approve=True),
        "not held",
    )


@click.command()
@common_options
@_IDS
def reject(config_path: str | None, log_format: str, ids: Sequence[int]) -> None:
    """Drop held deliveries for good."""
    _act(
        config_path,
        log_format,
        ids,
        "rejected",
        lambda s, i, at, who: s.release(i, at, actor=who, approve=False),
        "not held",
    )


@click.command()
@common_options
@_IDS
def retry(config_path: str | None, log_format: str, ids: Sequence[int]) -> None:
    """Send failed or unknown deliveries again, with the same idempotency key."""
    _act(
        config_path,
        log_format,
        ids,
        "queued again",
        lambda s, i, at, who: s.retry(i, at, actor=who),
        "not failed or unknown",
    )


@click.command()
@common_options
@_IDS
def skip(config_path: str | None, log_format: str, ids: Sequence[int]) -> None:
    """Never send these deliveries (pending, held, failed or unknown)."""
    _act(
        config_path,
        log_format,
        ids,
        "skipped",
        lambda s, i, at, who: s.skip(i, at, actor=who),
        "already sent or skipped",
    )


@click.group()
def account() -> None:
    """Pause or resume an account: its deliveries wait, none is lost."""


def _account_names(config: Config, name: str) -> None:
    if name not in config.accounts:
        known = ", ".join(config.accounts) or "none"
        raise click.BadParameter(f"no account named {name!r} (accounts: {known})")


@account.command()
@common_options
@click.argument("name")
@click.option("--reason", default="paused by an operator", show_default=True)
def pause(config_path: str | None, log_format: str, name: str, reason: str) -> None:
    """Stop posting on account NAME until it is resumed."""
    config = load(config_path, log_format)
    _account_names(config, name)
    with Storage.open(config.database) as storage:
        if storage.pause_account(name, f"{reason} ({actor()})", datetime.now(UTC)):
            click.echo(f"{name}: paused; its deliveries wait.")
        else:
            click.echo(f"{name}: already paused.")


@account.command()
@common_options
@click.argument("name")
def resume(config_path: str | None, log_format: str, name: str) -> None:
    """Post again on account NAME, starting with what waited."""
    config = load(config_path, log_format)
    _account_names(config, name)
    with Storage.open(config.database) as storage:
        if storage.resume_account(name, datetime.now(UTC)):
            click.echo(f"{name}: resumed.")
        else:
            click.echo(f"{name}: was not paused.")


@click.command()
@common_options
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
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
    config = load(config_path, log_format)
    since_utc = since.replace(tzinfo=config.tz()).astimezone(UTC) if since else None
    with Storage.open(config.database) as storage:
        rows: list[dict[str, Any]]
        if events:
            rows = [
                {
                    "time": e.at.isoformat(),
                    "delivery": e.delivery,
                    "account": e.account,
                    "link": e.link,
                    "from": e.from_state or "",
                    "to": e.to_state,
                    "actor": e.actor,
                    "detail": e.detail or "",
                }
                for e in storage.events(since_utc)
            ]
        else:
            rows = [
                {
                    "sent_at": p.sent_at.isoformat(),
                    "account": p.account,
                    "feed": p.feed,
                    "title": p.title,
                    "link": p.link,
                    "post_url": p.remote_url or "",
                    "post_id": p.remote_id or "",
                    "delivery": p.delivery,
                }
                for p in storage.posted(since_utc)
            ]
    if fmt == "json":
        output.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    fields = (
        ["time", "delivery", "account", "link", "from", "to", "actor", "detail"]
        if events
        else ["sent_at", "account", "feed", "title", "link", "post_url", "post_id", "delivery"]
    )
    writer = csv.DictWriter(output, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)


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
    targets = list(accounts) or list(config.feeds[feed].accounts)
    for name in targets:
        _account_names(config, name)
    item = Item(
        key=f"manual:{uuid.uuid4().hex}",
        link=link,
        title=title,
        summary=summary,
        published=datetime.now(UTC),
        language=config.feeds[feed].language,
    )
    runtime = Runtime.start(config, parse_workers=0)
    try:
        planned = tuple(PlannedDelivery(a, urgent=urgent) for a in targets)
        (item_id,) = runtime.storage.add_items(
            feed, config.feeds[feed].url, runtime.now(), [NewItem(item, planned)], actor=actor()
        )
        ids = [
            d.id
            for d in runtime.storage.due_deliveries(runtime.now(), limit=1000)
            if d.item.key == item.key
        ]
        result = dispatch_due(
            config=config,
            storage=runtime.storage,
            publishers=runtime.publishers,
            alerts=runtime.alerts,
            now=runtime.now,
            ids=ids,
        )
        click.echo(
            f"item {item_id}: {result.sent} posted now, {result.waiting} waiting "
            f"(quiet hours, pacing or a paused account; the daemon sends them), "
            f"{result.failed + result.unknown} failed."
        )
        if result.failed or result.unknown:
            sys.exit(1)
    finally:
        runtime.close()


COMMANDS = (queue, approve, reject, retry, skip, account, export, post)
