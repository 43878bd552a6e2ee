"""The ``autoposter`` command: thin commands over ``autoposter.app``, one module per group.

run (run, demo), inspect (check, status, preview, export, queue), queue
(approve, reject, skip, retry, post, backfill), accounts (account pause,
resume), db (db upgrade, backup), watch (watch run, mentions, digest send),
web (web, user add, passwd, disable, list).
A command parses its arguments, calls one operation and prints its result.

Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from autoposter import __version__, logs
from autoposter.cli import accounts, db, inspect, queue, run, watch, web
from autoposter.errors import AutoposterError, ConfigError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="autoposter")
def cli() -> None:
    """Post each new item of your website's feeds to your social accounts, exactly once."""


for _module in (run, inspect, queue, accounts, db, watch, web):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


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
