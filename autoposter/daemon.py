"""The daemon: one jittered job per feed plus the dispatch job, stopped cleanly by a signal.

SIGTERM and SIGINT stop it after the jobs in flight; SIGHUP re-reads the
configuration and applies new feeds, accounts and credentials without a
restart (an invalid file is refused, the running configuration kept, and the
operators alerted once). A job tells the operators of deliveries held for too long.
A heartbeat job tells systemd's watchdog and ``/healthz`` that the scheduler
is alive; the optional HTTP listener serves ``/healthz`` and ``/metrics``.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from autoposter import logs, sdnotify
from autoposter.alerts import Alert
from autoposter.app.checks import check_links, config_warnings
from autoposter.config import Config, load_config
from autoposter.errors import AutoposterError, ConfigError
from autoposter.health import Health, HealthServer
from autoposter.metrics import Metrics
from autoposter.ops import check_config_file
from autoposter.runtime import Runtime, build_publishers
from autoposter.watch.atom import watch_atom
from autoposter.watch.schedule import close_watch_jobs, sync_watch_jobs

POLL_THREADS = 8
MAX_JITTER = 30.0
FIRST_POLL_SPREAD = 10.0
HEARTBEAT = 5.0
WAITING_CHECK = 300.0
# Settings read once at start; a reload that changes them says a restart is needed.
RESTART_KEYS = ("database", "timezone", "user_agent", "http_listen", "allow_networks")


def _jitter(interval: float) -> float:
    # A tenth of the interval, so a hundred feeds do not hit one web server at the same second.
    return min(interval / 10, MAX_JITTER)


def build_scheduler(runtime: Runtime) -> BackgroundScheduler:
    config = runtime.config
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(POLL_THREADS)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        timezone=config.tz(),
    )
    start = datetime.now(config.tz())
    for name, feed in config.feeds.items():
        if feed.enabled:
            _add_poll_job(scheduler, runtime, name, feed.poll_interval, start)
    scheduler.add_job(
        runtime.dispatch,
        "interval",
        seconds=config.dispatch_interval,
        next_run_time=start,
        id="dispatch",
    )
    scheduler.add_job(
        runtime.alert_waiting,
        "interval",
        seconds=waiting_check_interval(config),
        next_run_time=start,
        id="approval-waiting",
    )
    sync_watch_jobs(scheduler, config, runtime.storage)
    return scheduler


def waiting_check_interval(config: Config) -> float:
    """How often held deliveries are looked at: a quarter of the waiting time, at most
    WAITING_CHECK, so an alert comes at most that late."""
    return max(1.0, min(WAITING_CHECK, config.alerts.approval_waiting_after / 4))


def _add_poll_job(
    scheduler: BackgroundScheduler, runtime: Runtime, name: str, interval: float, start: datetime
) -> None:
    offset = random.uniform(0, min(interval, FIRST_POLL_SPREAD))  # noqa: S311
    scheduler.add_job(
        runtime.poll,
        "interval",
        seconds=interval,
        jitter=_jitter(interval),
        next_run_time=start + timedelta(seconds=offset),
        id=f"poll:{name}",
        args=[name],
    )


def sync_jobs(scheduler: BackgroundScheduler, runtime: Runtime, previous: Config) -> None:
    """Make the scheduler's jobs match ``runtime.config`` after a reload.

    A feed whose interval did not change keeps its job and its timing; a new
    feed is first polled within FIRST_POLL_SPREAD seconds.
    """
    config = runtime.config
    wanted = {name: feed for name, feed in config.feeds.items() if feed.enabled}
    start = datetime.now(config.tz())
    for job in scheduler.get_jobs():
        name = job.id.removeprefix("poll:")
        if job.id.startswith("poll:") and name not in wanted:
            job.remove()
    for name, feed in wanted.items():
        before = previous.feeds.get(name)
        job = scheduler.get_job(f"poll:{name}")
        if job is not None and before is not None and before.poll_interval == feed.poll_interval:
            continue
        if job is not None:
            job.remove()
        _add_poll_job(scheduler, runtime, name, feed.poll_interval, start)
    if config.dispatch_interval != previous.dispatch_interval:
        scheduler.reschedule_job("dispatch", trigger="interval", seconds=config.dispatch_interval)
    if waiting_check_interval(config) != waiting_check_interval(previous):
        scheduler.reschedule_job(
            "approval-waiting", trigger="interval", seconds=waiting_check_interval(config)
        )
    sync_watch_jobs(scheduler, config, runtime.storage)


@dataclass
class ReloadFailures:
    """The reload error last alerted, so that the same broken file is told once."""

    alerted: str | None = None

    def first(self, error: str) -> bool:
        """True, once, for an error not alerted since the last successful reload."""
        if error == self.alerted:
            return False
        self.alerted = error
        return True

    def clear(self) -> None:
        self.alerted = None


def reload_config(
    runtime: Runtime, scheduler: BackgroundScheduler, failures: ReloadFailures | None = None
) -> bool:
    """Re-read the configuration file and apply it; False (and nothing changed) if invalid.

    A failure is logged each time and alerted once (through ``failures``): the same
    error again is not alerted again until a reload succeeds.

    New feeds are scheduled, removed ones stop, changed intervals are applied,
    and the publishers are rebuilt from the new account blocks and ``*_file``
    secrets. Settings in RESTART_KEYS keep their running value until a restart.
    """
    previous = runtime.config
    try:
        if previous.path is None:
            raise ConfigError("", "this configuration was not read from a file")
        config = load_config(previous.path)
        for warning in check_config_file(config):
            logs.event("config-permissions", level=logging.WARNING, warning=warning)
        # Known before anything can quote them; the old ones stay redacted too.
        logs.add_secrets(config.secrets)
        check_links(config)
        publishers = build_publishers(config, runtime.storage)
    except AutoposterError as e:
        error = logs.redact_known(str(e))
        hint = "the running configuration stays in force; fix the file and reload again"
        logs.event("reload-failed", level=logging.ERROR, error=error, hint=hint)
        if failures is not None and failures.first(error):
            runtime.alerts.notify(
                Alert(
                    "reload-failed",
                    "the configuration could not be reloaded",
                    f"{previous.path}: {error}\n\nThe running configuration stays in force; "
                    "fix the file, check it with `autoposter check`, and reload again.",
                )
            )
        return False
    if failures is not None:
        failures.clear()
    pending = [key for key in RESTART_KEYS if getattr(previous, key) != getattr(config, key)]
    runtime.replace_config(config, publishers)
    sync_jobs(scheduler, runtime, previous)
    logs.event(
        "reloaded",
        feeds=sum(1 for f in config.feeds.values() if f.enabled),
        accounts=len(config.accounts),
        restart_needed_for=",".join(pending) or None,
    )
    return True


def run(config: Config, *, http_listen: tuple[str, int] | None = None) -> None:
    """Start the long-lived pieces from ``config`` and serve until stopped (``serve``).

    Raises ConfigError, before anything starts, for a template that would post
    without a link back to the site (``app.check_links``)."""
    check_links(config)
    for warning in config_warnings(config):
        logs.event("config-warning", level=logging.WARNING, warning=warning)
    runtime = Runtime.start(config)
    try:
        serve(runtime, http_listen=http_listen)
    finally:
        runtime.close()


def _heartbeat_interval() -> float:
    watchdog = sdnotify.watchdog_interval()
    return HEARTBEAT if watchdog is None else max(0.5, min(HEARTBEAT, watchdog / 3))


def serve(
    runtime: Runtime,
    *,
    stop: threading.Event | None = None,
    http_listen: tuple[str, int] | None = None,
) -> None:
    """Run until SIGTERM or SIGINT (or ``stop`` is set), then finish the jobs in flight.

    SIGHUP reloads the configuration. ``http_listen`` overrides the
    configuration's ``http.listen``.
    """
    stop = stop or threading.Event()
    reload_requested = threading.Event()
    reload_failures = ReloadFailures()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            reload_requested.set()
            return
        logs.event("stopping", signal=signal.Signals(signum).name)
        stop.set()

    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {sig: signal.signal(sig, _on_signal) for sig in handled}
    server: HealthServer | None = None
    metrics = Metrics(lambda: runtime.storage, lambda: runtime.config.accounts)
    try:
        scheduler = build_scheduler(runtime)
        interval = _heartbeat_interval()
        health = Health(
            lambda: runtime.storage,
            lambda: scheduler.state == STATE_RUNNING,
            max_silence=3 * interval + 5,
        )

        def heartbeat() -> None:
            # Runs in its own executor: it proves the scheduler still runs jobs even
            # when every poll thread is busy with a slow feed.
            health.beat()
            metrics.heartbeat.set_to_current_time()
            sdnotify.notify("WATCHDOG=1")

        scheduler.add_executor(ThreadPoolExecutor(1), alias="heartbeat")
        runtime.observers.append(metrics)
        listen = http_listen or runtime.config.http_listen
        if listen is not None:
            watch_store = runtime.storage.watch_store()
            server = HealthServer(
                listen[0],
                listen[1],
                health,
                metrics,
                watch_feed=lambda name: watch_atom(runtime.config, watch_store, name),
            ).start()
        scheduler.start()
        logs.event(
            "started",
            feeds=sum(1 for f in runtime.config.feeds.values() if f.enabled),
            accounts=len(runtime.publishers),
            database=runtime.storage.safe_url,
            http=f"{listen[0]}:{server.port}" if listen and server else None,
        )
        sdnotify.notify("READY=1", "STATUS=running")
        # Only now: systemd must hear READY before the first WATCHDOG.
        scheduler.add_job(
            heartbeat,
            "interval",
            seconds=interval,
            next_run_time=datetime.now(runtime.config.tz()),
            id="heartbeat",
            executor="heartbeat",
        )
        while not stop.wait(1.0):
            if reload_requested.is_set():
                reload_requested.clear()
                logs.event("reloading", signal="SIGHUP")
                sdnotify.notify("RELOADING=1", "STATUS=reloading the configuration")
                ok = reload_config(runtime, scheduler, reload_failures)
                metrics.reloads.labels("ok" if ok else "failed").inc()
                status = "running" if ok else "running; the last reload failed, see the log"
                sdnotify.notify("READY=1", f"STATUS={status}")
        sdnotify.notify("STOPPING=1", "STATUS=finishing the jobs in flight")
        # Jobs not yet started return at once; the ones running finish their feed.
        runtime.stopping.set()
        scheduler.shutdown(wait=True)
        close_watch_jobs(scheduler)
        logs.event("stopped", level=logging.INFO)
    finally:
        if server is not None:
            server.stop()
        if metrics in runtime.observers:
            runtime.observers.remove(metrics)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
