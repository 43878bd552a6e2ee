"""What every ``autoposter`` command shares: its options, loading the config, names, dates."""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from autoposter import logs
from autoposter.config import Config, load_config, resolve_config_path
from autoposter.ops import check_config_file

F = TypeVar("F", bound=Callable[..., Any])


def common_options(func: F) -> F:
    """``--config`` and ``--log-format``, accepted by every command that reads the config."""
    func = click.option(
        "--log-format",
        type=click.Choice(["human", "json"]),
        default="human",
        show_default=True,
        help="Log lines for people, or one JSON object per line for journald/Loki.",
    )(func)
    func = click.option(
        "--config",
        "config_path",
        metavar="PATH",
        help="Configuration file. Default: $AUTOPOSTER_CONFIG, then ./autoposter.yaml.",
    )(func)
    return func


def load(
    config_path: str | None, log_format: str, *, read_only: bool = False, secrets: bool = True
) -> Config:
    """The configuration; ``read_only`` for the commands that post nothing (see
    ``load_config``): they run without the secrets' environment variables;
    ``secrets=False`` for the web console and its users, which hold none at all."""
    logs.configure(log_format)
    config = load_config(
        resolve_config_path(config_path, os.environ), read_only=read_only, secrets=secrets
    )
    logs.configure(log_format, secrets=config.secrets, zone=config.tz())
    # A file holding secrets that other users can read is refused (ConfigError).
    for warning in check_config_file(config):
        logs.event("config-permissions", level=logging.WARNING, warning=warning)
    return config


def local_time(config: Config, when: datetime | None) -> str:
    if when is None:
        return "never"
    return when.astimezone(config.tz()).strftime("%Y-%m-%d %H:%M")


def actor() -> str:
    """Who is acting, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def feed_or_fail(config: Config, feed: str) -> None:
    if feed not in config.feeds:
        known = ", ".join(config.feeds) or "none"
        raise click.BadParameter(f"no feed named {feed!r} (feeds: {known})", param_hint="FEED")


def account_or_fail(config: Config, name: str) -> None:
    if name not in config.accounts:
        known = ", ".join(config.accounts) or "none"
        raise click.BadParameter(f"no account named {name!r} (accounts: {known})")


def since_utc(config: Config, since: datetime | None) -> datetime | None:
    """A ``--since`` date, read in the configured timezone."""
    return since.replace(tzinfo=config.tz()).astimezone(UTC) if since else None
