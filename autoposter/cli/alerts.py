"""``autoposter alerts test``: do the operators' alerts reach them?"""

from __future__ import annotations

import sys

import click

from autoposter import app, logs
from autoposter.cli.common import common_options, load


@click.group()
def alerts() -> None:
    """Check the operators' alerts."""


@alerts.command("test")
@common_options
def test(config_path: str | None, log_format: str) -> None:
    """Send one test alert through every configured channel (e-mail, webhook).

    Says for each channel whether it took the alert, and why not; exits 1 if
    one failed, or if no channel is configured.
    """
    config = load(config_path, log_format)
    result = app.test_alerts(config)
    if not result.channels:
        click.echo(
            "no alert channel is configured: alerts are only log lines. "
            "Set alerts.email (with smtp:) or alerts.webhook.",
            err=True,
        )
        sys.exit(1)
    for sent in result.channels:
        verdict = "ok" if sent.ok else "FAILED"
        click.echo(logs.redact_known(f"{sent.channel:<8} {verdict}: {sent.detail}"))
    if not result.ok:
        sys.exit(1)


COMMANDS: dict[str, click.Command] = {
    "alerts": alerts,
}
