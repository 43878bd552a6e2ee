"""The ``autoposter`` command: thin commands over the pipeline, storage and config.

Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from autoposter import __version__, cli_ops, cli_queue, cli_watch, logs
from autoposter.cli_common import actor, common_options, load, local_time
from autoposter.config import Config, load_config, parse_config
from autoposter.errors import AutoposterError, ConfigError
from autoposter.parse import parse_feed
from autoposter.pipeline import oldest_first, spec_for
from autoposter.policy import DeliveryPolicy
from autoposter.routing import accepts
from autoposter.runtime import Runtime, build_publishers
from autoposter.storage import PlannedDelivery, Storage
from autoposter.types import NotModified

DEMO_FILES = Path(__file__).parent / "demo"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="autoposter")
def cli() -> None:
    """Post each new item of your website's feeds to your social accounts, exactly once."""


@cli.command()
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
    runtime = Runtime.start(config)
    try:
        if once:
            polls = runtime.poll_all()
            sent = runtime.dispatch()
            errors = [p for p in polls if p.status == "error"]
            logs.event(
                "cycle",
                feeds=len(polls),
                feed_errors=len(errors),
                sent=sent.sent,
                failed=sent.failed,
                retrying=sent.retried,
            )
            if errors or sent.failed:
                sys.exit(1)
        else:
            from autoposter.daemon import serve

            serve(runtime, http_listen=listen)
    finally:
        runtime.close()


@cli.command()
@common_options
@click.option("--online", is_flag=True, help="Also fetch every feed and check every account.")
def check(config_path: str | None, log_format: str, online: bool) -> None:
    """Validate the configuration and print what was understood."""
    config = load(config_path, log_format)
    publishers = build_publishers(config)
    ok = True
    try:
        click.echo(f"configuration: {config.path}")
        click.echo(f"database:      {Storage(config.database).safe_url}")
        click.echo(f"timezone:      {config.timezone}")
        click.echo(f"delivery:      {describe_policy(config.delivery)}")
        alerts = [*config.alerts.email, *(["webhook"] if config.alerts.webhook_url else [])]
        click.echo(f"alerts to:     {', '.join(alerts) or 'the log only'}")
        click.echo(f"accounts ({len(config.accounts)}):")
        for name, account in config.accounts.items():
            line = f"  {name:<20} type={account.type}"
            if account.policy != config.delivery:
                line += f" ({describe_policy(account.policy)})"
            if online:
                try:
                    text, fine = cli_ops.describe_account(publishers[name].check())
                    ok = ok and fine
                    line += f"  {'ok' if fine else 'FAILED'}: {text}"
                except AutoposterError as e:
                    ok = False
                    line += f"  FAILED: {e}"
            click.echo(logs.redact_known(line))
        click.echo(f"feeds ({len(config.feeds)}):")
        for name, feed in config.feeds.items():
            state = "" if feed.enabled else " (disabled)"
            click.echo(f"  {name}{state}")
            click.echo(f"    url:           {feed.url}")
            click.echo(f"    accounts:      {', '.join(feed.accounts)}")
            click.echo(
                f"    poll every:    {feed.poll_interval:g} s, burst_limit {feed.burst_limit}"
            )
            click.echo(f"    language:      {feed.language}")
            click.echo(f"    template:      {feed.template!r}")
            if not feed.include.is_empty() or not feed.exclude.is_empty():
                click.echo(f"    include:       {_filter_text(feed.include)}")
                click.echo(f"    exclude:       {_filter_text(feed.exclude)}")
            if online:
                from autoposter.fetch import Fetcher

                with Fetcher(
                    user_agent=config.user_agent, allow_networks=config.allow_networks
                ) as fetcher:
                    try:
                        fetched = fetcher.fetch(
                            feed.url, timeout=feed.timeout, max_bytes=feed.max_bytes
                        )
                        if isinstance(fetched, NotModified):
                            click.echo("    reachable:     yes (not modified)")
                        else:
                            parsed = parse_feed(
                                fetched.body,
                                url=fetched.url,
                                headers=fetched.headers,
                                default_language=feed.language,
                            )
                            click.echo(f"    reachable:     yes, {len(parsed.items)} items")
                    except AutoposterError as e:
                        ok = False
                        click.echo(logs.redact_known(f"    reachable:     NO: {e}"))
    finally:
        for publisher in publishers.values():
            publisher.close()
    if not ok:
        sys.exit(1)


def _listen_option(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    try:
        parsed = parse_config({"http": {"listen": value}}, base_dir=Path(), environ={})
    except ConfigError as e:
        raise click.BadParameter(e.message, param_hint="--http-listen") from None
    return parsed.http_listen


def describe_policy(policy: DeliveryPolicy) -> str:
    parts = [f"min_interval {policy.min_interval:g} s"]
    if policy.max_per_hour is not None:
        parts.append(f"max {policy.max_per_hour}/hour")
    if policy.max_per_day is not None:
        parts.append(f"max {policy.max_per_day}/day")
    if policy.quiet_hours is not None:
        parts.append(f"quiet {policy.quiet_hours}")
    for blackout in policy.blackouts:
        parts.append(f"blackout {blackout.start:%Y-%m-%d} to {blackout.end:%Y-%m-%d} (excl.)")
    if policy.approval:
        parts.append("approval required")
    parts.append(f"{policy.max_attempts} attempts within {policy.give_up_after / 3600:g} h")
    return ", ".join(parts)


def _filter_text(rule: Any) -> str:
    parts = []
    if rule.categories:
        parts.append("categories " + ", ".join(rule.categories))
    if rule.keywords:
        parts.append("keywords " + ", ".join(rule.keywords))
    return "; ".join(parts) or "-"


def _feed_or_fail(config: Config, feed: str) -> None:
    if feed not in config.feeds:
        known = ", ".join(config.feeds) or "none"
        raise click.BadParameter(f"no feed named {feed!r} (feeds: {known})", param_hint="FEED")


@cli.command()
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
    _feed_or_fail(config, feed)
    feed_config = config.feeds[feed]
    targets = list(accounts) or list(feed_config.accounts)
    for account in targets:
        if account not in config.accounts:
            raise click.BadParameter(f"no account named {account!r}", param_hint="--account")
    runtime = Runtime.start(config, parse_workers=0)
    try:
        if runtime.storage.feed_state(feed) is None:
            runtime.poll(feed, force=True)
        since_utc = since.replace(tzinfo=config.tz()).astimezone(UTC) if since else None
        stored = runtime.storage.items_for_backfill(feed, since=since_utc, limit=limit)
        stored = [s for s in reversed(stored) if accepts(feed_config, s.item)]
        if not stored:
            click.echo(f"{feed}: no stored items match.")
            return
        if dry_run:
            for entry in stored:
                for account in targets:
                    spec = spec_for(config, feed, account, entry.item)
                    post = runtime.publishers[account].render(entry.item, spec)
                    click.echo(f"--- {account} · {entry.item.link}")
                    click.echo(post.text)
            click.echo(f"(dry run: {len(stored)} items x {len(targets)} accounts, nothing posted)")
            return
        created: list[int] = []
        for account in targets:
            created += runtime.storage.create_deliveries(
                [s.id for s in stored], PlannedDelivery(account), runtime.now(), actor=actor()
            )
        click.echo(
            f"{feed}: {len(created)} deliveries queued "
            f"({len(stored) * len(targets) - len(created)} already queued or sent)."
        )
        from autoposter.pipeline import dispatch_due

        with click.progressbar(length=len(created), label="posting", file=sys.stderr) as bar:
            for start in range(0, len(created), 20):
                result = dispatch_due(
                    config=config,
                    storage=runtime.storage,
                    publishers=runtime.publishers,
                    ids=created[start : start + 20],
                    on_done=lambda _d, _o: bar.update(1),
                )
                if result.failed:
                    click.echo(f"{result.failed} failed; see `autoposter status`.", err=True)
    finally:
        runtime.close()


@cli.command()
@common_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--last", type=click.IntRange(min=0), default=10, show_default=True)
def status(config_path: str | None, log_format: str, as_json: bool, last: int) -> None:
    """Feeds, accounts and the last deliveries."""
    config = load(config_path, log_format)
    with Storage.open(config.database) as storage:
        feeds = storage.feed_summaries()
        accounts = storage.account_summaries()
        recent = storage.recent_deliveries(last)
        held = storage.recent_deliveries(1000, state="held")
        unknown = storage.recent_deliveries(1000, state="unknown")
    if as_json:
        data = {
            "feeds": [_jsonable(f) for f in feeds],
            "accounts": {a.account: a.counts for a in accounts},
            "recent": [_jsonable(r) for r in recent],
            "held": [_jsonable(r) for r in held],
            "unknown": [_jsonable(r) for r in unknown],
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo("feeds:")
    for f in feeds:
        click.echo(
            f"  {f.name:<20} items={f.items:<6} last poll {local_time(config, f.last_polled_at)}"
            f"  last success {local_time(config, f.last_success_at)}"
        )
        if f.last_error:
            click.echo(f"  {'':<20} ERROR ({f.failures} in a row): {f.last_error}")
    click.echo("accounts:")
    for a in accounts:
        counts = " ".join(
            f"{state}={a.counts.get(state, 0)}"
            for state in ("sent", "pending", "sending", "held", "failed", "unknown", "skipped")
        )
        click.echo(f"  {a.account:<20} {counts}")
    for title, rows in (
        ("held (approve or reject)", held),
        ("unknown (check, then retry or skip)", unknown),
    ):
        if rows:
            click.echo(f"{title}:")
            for r in rows:
                click.echo(f"  #{r.id} {r.account} · {r.title[:60]} · {r.last_error or ''}")
    click.echo("last deliveries:")
    for r in recent:
        where = r.remote_url or r.last_error or ""
        when = local_time(config, r.updated_at)
        click.echo(f"  #{r.id} {when} {r.account} {r.state} {r.title[:50]} {where}")


def _jsonable(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in row.__dataclass_fields__:
        value = getattr(row, key)
        out[key] = value.isoformat() if isinstance(value, datetime | date) else value
    return out


@cli.command()
@common_options
@click.argument("feed")
@click.option("--limit", type=click.IntRange(min=1), default=3, show_default=True)
def preview(config_path: str | None, log_format: str, feed: str, limit: int) -> None:
    """Show the latest items of FEED as each account would receive them. Stores nothing."""
    config = load(config_path, log_format)
    _feed_or_fail(config, feed)
    feed_config = config.feeds[feed]
    from autoposter.fetch import Fetcher

    publishers = build_publishers(config)
    try:
        with Fetcher(user_agent=config.user_agent, allow_networks=config.allow_networks) as fetcher:
            fetched = fetcher.fetch(
                feed_config.url, timeout=feed_config.timeout, max_bytes=feed_config.max_bytes
            )
        assert not isinstance(fetched, NotModified)  # no validators were sent
        parsed = parse_feed(
            fetched.body,
            url=fetched.url,
            headers=fetched.headers,
            default_language=feed_config.language,
        )
        latest = list(reversed(oldest_first(list(parsed.items))))[:limit]
        for item in latest:
            routed = accepts(feed_config, item)
            click.echo(f"=== {item.title}")
            click.echo(f"    {item.link}  ({item.language}, {local_time(config, item.published)})")
            if not routed:
                click.echo("    (filtered out by include/exclude: not posted)")
                continue
            for account in feed_config.accounts:
                post = publishers[account].render(item, spec_for(config, feed, account, item))
                length = post.extra.get("length", f"{len(post.text)} characters")
                click.echo(f"--- {account} ({length})")
                click.echo(post.text)
                for key in ("card", "embed", "visibility", "spoiler_text"):
                    if post.extra.get(key):
                        click.echo(f"[{key}: {post.extra[key]}]")
                if post.image is not None:
                    click.echo(f"[image {post.image.url} alt: {post.image.alt or '(none)'}]")
            click.echo()
    finally:
        for publisher in publishers.values():
            publisher.close()


@cli.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to keep the demo's config, feed and database (default: a temporary folder).",
)
def demo(workdir: Path | None) -> None:
    """Try autoposter offline on a bundled example site.

    Polls the example feed (the first poll is the baseline: nothing posted),
    then the same feed after the site published one more article, which is
    "posted" to the console account.
    """
    logs.configure("human")
    folder = Path(tempfile.mkdtemp(prefix="autoposter-demo-")) if workdir is None else workdir
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEMO_FILES / "autoposter.yaml", folder / "autoposter.yaml")
    feed_file = folder / "actualites.xml"
    (folder / "autoposter.db").unlink(missing_ok=True)
    config = load_config(folder / "autoposter.yaml")
    for step, edition in enumerate(("actualites-1.xml", "actualites-2.xml"), start=1):
        shutil.copy(DEMO_FILES / edition, feed_file)
        if step == 1:
            click.echo("1. First poll of the site's feed: its items are the baseline, not news.")
        else:
            click.echo("\n2. The site published a new article. Next poll:")
        runtime = Runtime.start(config, parse_workers=0)
        try:
            runtime.poll_all()
            runtime.dispatch()
        finally:
            runtime.close()
    click.echo(f"\nThe demo's files are in {folder}: edit actualites.xml and run")
    click.echo(f"  autoposter run --once --config {folder / 'autoposter.yaml'}")


for _command in cli_queue.COMMANDS:
    cli.add_command(_command)
for _command in cli_ops.COMMANDS:
    cli.add_command(_command)
for _command in cli_watch.COMMANDS:
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
