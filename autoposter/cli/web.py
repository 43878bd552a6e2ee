"""The web console and its people: ``web``, ``user add``, ``user passwd``,
``user disable``, ``user list``."""

from __future__ import annotations

from pathlib import Path

import click

from autoposter import app
from autoposter.cli.common import actor, common_options, load
from autoposter.config import Config, parse_config
from autoposter.errors import ConfigError, RefusedError


@click.command()
@common_options
@click.option(
    "--listen",
    metavar="HOST:PORT",
    envvar="AUTOPOSTER_WEB_LISTEN",
    help="Listen there (overrides web.listen; the container sets it).",
)
def web(config_path: str | None, log_format: str, listen: str | None) -> None:
    """Serve the web console (default 127.0.0.1:8788). It holds no network token: the
    decisions made there are carried out by `autoposter run`."""
    config = load(config_path, log_format, secrets=False)
    from autoposter.web.server import serve

    serve(config, listen=_listen(listen))


def _listen(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    try:
        parsed = parse_config({"web": {"listen": value}}, base_dir=Path(), environ={})
    except ConfigError as e:
        raise click.BadParameter(e.message, param_hint="--listen") from None
    return parsed.web.listen


def _password(password_file: Path | None) -> str:
    if password_file is not None:
        lines = password_file.read_text(encoding="utf-8").splitlines()
        return lines[0] if lines else ""
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group()
def user() -> None:
    """The web console's users: add, passwd, disable, list."""


_password_file = click.option(
    "--password-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the password from the first line of this file (for scripts).",
)


@user.command("add")
@common_options
@click.argument("name")
@click.option("--role", type=click.Choice(app.ROLES), required=True, help="What they may do.")
@_password_file
def add(
    config_path: str | None, log_format: str, name: str, role: str, password_file: Path | None
) -> None:
    """Add user NAME (the password from a prompt, or --password-file)."""
    config: Config = load(config_path, log_format, secrets=False)
    try:
        added = app.add_user(config, name, _password(password_file), role, actor=actor())
    except RefusedError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"user {added.name} added ({added.role}).")


@user.command("passwd")
@common_options
@click.argument("name")
@_password_file
def passwd(config_path: str | None, log_format: str, name: str, password_file: Path | None) -> None:
    """Set NAME's password; their sessions end."""
    config = load(config_path, log_format, secrets=False)
    try:
        app.set_password(config, name, _password(password_file), actor=actor())
    except RefusedError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"password of {name} changed; their sessions have ended.")


@user.command("disable")
@common_options
@click.argument("name")
def disable(config_path: str | None, log_format: str, name: str) -> None:
    """NAME can no longer log in; their sessions end (``passwd`` enables them again)."""
    config = load(config_path, log_format, secrets=False)
    try:
        app.disable_user(config, name, actor=actor())
    except RefusedError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"user {name} disabled; their sessions have ended.")


@user.command("list")
@common_options
def list_(config_path: str | None, log_format: str) -> None:
    """The console's users, their role and whether they are disabled."""
    config = load(config_path, log_format, secrets=False)
    for found in app.list_users(config):
        click.echo(f"{found.name}\t{found.role}\t{'disabled' if found.disabled else 'enabled'}")


COMMANDS: dict[str, click.Command] = {
    "web": web,
    "user": user,
}
