"""Taking back what was posted: ``retract``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from autoposter import app
from autoposter.cli.common import account_or_fail, actor, common_options, load

_SAID = {
    "deleted": "deleted",
    "gone": "already gone",
    "withdrawn": "marked withdrawn (too old to delete)",
    "skipped": "never sent, now never will be",
    "waiting": "waiting (the daemon will finish it)",
    "failed": "could not",
}


@click.command("retract")
@common_options
@click.argument("items", nargs=-1, required=True)
@click.option("--account", "accounts", multiple=True, help="Only on this account (repeatable).")
@click.option("--reason", default="", help="Why, for the audit record.")
@click.option(
    "--record-only",
    is_flag=True,
    help="Only record the decision; the running daemon deletes the posts.",
)
def retract(
    config_path: str | None,
    log_format: str,
    items: Sequence[str],
    accounts: Sequence[str],
    reason: str,
    record_only: bool,
) -> None:
    """Delete every copy of ITEMS (item ids or links) on every network they reached, and
    never post them afterwards."""
    config = load(config_path, log_format)
    for name in accounts:
        account_or_fail(config, name)
    report = app.retract(
        config,
        app.RetractRequest(
            items=tuple(items), accounts=tuple(accounts), reason=reason, carry_out=not record_only
        ),
        actor=actor(),
    )
    for ref in report.missing:
        click.echo(f"{ref}: no such item", err=True)
    for copy in report.copies:
        line = f"item {copy.item} on {copy.account}: {_SAID.get(copy.outcome, copy.outcome)}"
        if copy.error and copy.outcome in ("failed", "waiting"):
            line += f" ({copy.error})"
        click.echo(line)
    if not report.copies and not report.missing:
        click.echo("nothing was posted or queued for these items")
    if not report.ok:
        sys.exit(1)


COMMANDS: dict[str, click.Command] = {
    "retract": retract,
}
