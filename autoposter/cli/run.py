"""Running autoposter: ``run`` (the daemon, or one cycle) and the offline ``demo``."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import click

from autoposter import app, logs
from autoposter.cli.common import common_options, load
from autoposter.config import Config, load_config, parse_config
from autoposter.errors import ConfigError
from autoposter.types import PollStatus

DEMO_FILES = Path(__file__).resolve().parent.parent / "demo"


@click.command()
@common_options
@click.option("--once", is_flag=True, help="Poll every feed once, send what is due, then exit.")
@click.option(
    "--http-listen",
    metavar="HOST:PORT",
    envvar="AUTOPOSTER_HTTP_LISTEN",
    help="Serve /healthz and /metrics there (overrides http.listen; the container sets it).",
)
def run(config_path: str | None, log_format: str, once: bool, http_listen: str | None) -> None:
    """Run the daemon (or one cycle with --once)."""
    config = load(config_path, log_format)
    listen = _listen_option(http_listen)
    if not once:
        from autoposter import daemon

        daemon.run(config, http_listen=listen)
        return
    cycle = app.run_cycle(config)
    errors = [p for p in cycle.polls if p.status is PollStatus.ERROR]
    sent = cycle.dispatch
    logs.event(
        "cycle",
        feeds=len(cycle.polls),
        feed_errors=len(errors),
        sent=sent.sent,
        failed=sent.failed,
        retrying=sent.retried,
    )
    if errors or sent.failed:
        sys.exit(1)


def _listen_option(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    try:
        parsed = parse_config({"http": {"listen": value}}, base_dir=Path(), environ={})
    except ConfigError as e:
        raise click.BadParameter(e.message, param_hint="--http-listen") from None
    return parsed.http_listen


@click.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to keep the demo's config, feed and database (default: a temporary folder).",
)
@click.option(
    "--web",
    "with_web",
    is_flag=True,
    help="Hold the new article for approval and serve the web console on it.",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default="127.0.0.1:8788",
    show_default=True,
    help="Where the console listens, with --web.",
)
def demo(workdir: Path | None, with_web: bool, listen: str) -> None:
    """Try autoposter offline on a bundled example site.

    Polls the example feed (the first poll is the baseline: nothing posted),
    then the same feed after the site published one more article, which is
    "posted" to the console account. With --web, the article waits for approval
    instead, and the console is served on it with a user "demo" and a new password.
    """
    logs.configure("human")
    folder = Path(tempfile.mkdtemp(prefix="autoposter-demo-")) if workdir is None else workdir
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEMO_FILES / "autoposter.yaml", folder / "autoposter.yaml")
    if with_web:
        _hold_for_the_console(folder / "autoposter.yaml", listen)
    feed_file = folder / "actualites.xml"
    (folder / "autoposter.db").unlink(missing_ok=True)
    config = load_config(folder / "autoposter.yaml")
    for step, edition in enumerate(("actualites-1.xml", "actualites-2.xml"), start=1):
        shutil.copy(DEMO_FILES / edition, feed_file)
        if step == 1:
            click.echo("1. First poll of the site's feed: its items are the baseline, not news.")
        else:
            click.echo("\n2. The site published a new article. Next poll:")
        app.run_cycle(config, parse_workers=0)
    click.echo(f"\nThe demo's files are in {folder}: edit actualites.xml and run")
    click.echo(f"  autoposter run --once --config {folder / 'autoposter.yaml'}")
    if with_web:
        _serve_the_demo(config)


def _hold_for_the_console(path: Path, listen: str) -> None:
    """The demo's configuration, with approval required and the console at ``listen``."""
    import yaml

    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    for feed in settings["feeds"].values():
        feed["approval"] = "required"
    settings["web"] = {"listen": listen}
    try:
        parse_config(settings, base_dir=path.parent, environ={})
    except ConfigError as e:
        raise click.BadParameter(e.message, param_hint="--listen") from None
    path.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), "utf-8")


def _serve_the_demo(config: Config) -> None:
    import secrets

    from autoposter.web.server import serve

    password = secrets.token_urlsafe(12)
    app.add_user(config, "demo", password, "admin", actor="cli:demo")
    host, port = config.web.listen
    click.echo("\n3. The new article waits for approval in the web console:")
    click.echo(f"  address:  http://{host}:{port}/")
    click.echo("  name:     demo")
    click.echo(f"  password: {password}")
    click.echo("  Approve it there, then send it with the `run --once` command above.")
    click.echo("  Ctrl+C stops the console.")
    sys.stdout.flush()
    serve(config)


COMMANDS: dict[str, click.Command] = {
    "run": run,
    "demo": demo,
}
