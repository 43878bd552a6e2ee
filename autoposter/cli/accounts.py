"""``autoposter account pause|resume``: stop or restart posting on one account."""

from __future__ import annotations

import click

from autoposter import app
from autoposter.cli.common import account_or_fail, actor, common_options, load


@click.group()
def account() -> None:
    """Pause or resume an account: its deliveries wait, none is lost."""


@account.command()
@common_options
@click.argument("name")
@click.option("--reason", default="paused by an operator", show_default=True)
def pause(config_path: str | None, log_format: str, name: str, reason: str) -> None:
    """Stop posting on account NAME until it is resumed."""
    config = load(config_path, log_format)
    account_or_fail(config, name)
    if app.pause_account(config, name, reason=reason, actor=actor()).changed:
        click.echo(f"{name}: paused; its deliveries wait.")
    else:
        click.echo(f"{name}: already paused.")


@account.command()
@common_options
@click.argument("name")
def resume(config_path: str | None, log_format: str, name: str) -> None:
    """Post again on account NAME, starting with what waited."""
    config = load(config_path, log_format)
    account_or_fail(config, name)
    if app.resume_account(config, name, actor=actor()).changed:
        click.echo(f"{name}: resumed.")
    else:
        click.echo(f"{name}: was not paused.")


COMMANDS: dict[str, click.Command] = {
    "account": account,
}
