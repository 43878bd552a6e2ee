"""The ``autoposter`` command: thin commands over ``autoposter.app``, one module per group.

run (run, demo), inspect (check, status, preview, export, queue), queue
(approve, reject, skip, retry, post, backfill), accounts (account pause,
resume), db (db upgrade, backup), alerts (alerts test), watch (watch run,
mentions, digest send), retract, web (web, user add, passwd, disable, list).
A command parses its arguments, calls one operation and prints its result.

Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from autoposter import __version__, logs
from autoposter.errors import AutoposterError, ConfigError

__all__ = ["cli", "main"]

# Each command and the module of its group. A command imports its module only when
# it runs, so that ``check`` loads neither the database layer nor the pipeline.
COMMANDS = {
    "run": "run",
    "demo": "run",
    "check": "inspect",
    "status": "inspect",
    "preview": "inspect",
    "export": "inspect",
    "queue": "inspect",
    "approve": "queue",
    "reject": "queue",
    "retry": "queue",
    "skip": "queue",
    "post": "queue",
    "backfill": "queue",
    "retract": "retract",
    "web": "web",
    "user": "web",
    "account": "accounts",
    "db": "db",
    "alerts": "alerts",
    "watch": "watch",
    "mentions": "watch",
    "digest": "watch",
}


class _Commands(click.Group):
    """The command group, loading each command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        loaded = importlib.import_module(f"{__name__}.{module}")
        found: click.Command = loaded.COMMANDS[cmd_name]
        return found


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="autoposter")
def cli() -> None:
    """Post each new item of your website's feeds to your social accounts, exactly once."""


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: runs the command, turns expected errors into a message and an exit code."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except ConfigError as e:
        click.echo(logs.redact_known(f"configuration error: {e}"), err=True)
        sys.exit(2)
    except AutoposterError as e:
        click.echo(logs.redact_known(f"error: {e}"), err=True)
        sys.exit(1)
    sys.exit(0)
