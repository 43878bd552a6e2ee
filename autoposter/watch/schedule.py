"""The watch's jobs in the daemon's scheduler: one poll job per watch, one digest job per
watch (``daily HH:MM`` or ``hourly``, in the configured time zone), one daily purge.

A scheduler has one ``Watcher``, kept across reloads (reconfigured, not
rebuilt) so that each source's back-off and conditional-GET state survive.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from autoposter import logs
from autoposter.config import Config
from autoposter.errors import AutoposterError
from autoposter.storage import Storage
from autoposter.watch.run import Watcher

__all__ = ["close_watch_jobs", "sync_watch_jobs"]

PURGE_JOB = "watch-purge"
FIRST_POLL_SPREAD = 30.0


def sync_watch_jobs(scheduler: BaseScheduler, config: Config, storage: Storage) -> None:
    """Make the watch jobs match ``config``: at start-up and after each reload."""
    watcher = _current(scheduler)
    for job in scheduler.get_jobs():
        if job.id.startswith(("watch:", "digest:")) or job.id == PURGE_JOB:
            job.remove()
    if not config.watch.watches:
        close_watch_jobs(scheduler)
        return
    if watcher is None:
        watcher = Watcher(config, storage)
    else:
        watcher.reconfigure(config)
    tz = config.tz()
    start = datetime.now(tz)
    for name, watch in config.watch.watches.items():
        offset = random.uniform(0, FIRST_POLL_SPREAD)  # noqa: S311
        scheduler.add_job(
            _guarded(watcher.poll, name),
            "interval",
            seconds=watch.poll_interval,
            jitter=min(watch.poll_interval / 10, 30.0),
            next_run_time=start + timedelta(seconds=offset),
            id=f"watch:{name}",
        )
        kind, at = watch.digest
        trigger = (
            CronTrigger(minute=0, timezone=tz)
            if kind == "hourly" or at is None
            else CronTrigger(hour=at.hour, minute=at.minute, timezone=tz)
        )
        scheduler.add_job(_guarded(watcher.send_digest, name), trigger, id=f"digest:{name}")
    scheduler.add_job(watcher.purge, "interval", hours=24, next_run_time=start, id=PURGE_JOB)
    _WATCHERS[id(scheduler)] = watcher


def close_watch_jobs(scheduler: BaseScheduler) -> None:
    """Close the watcher's connections; call after the scheduler has shut down."""
    watcher = _WATCHERS.pop(id(scheduler), None)
    if watcher is not None:
        watcher.close()


# One watcher per scheduler (a process has one scheduler; tests may build several).
_WATCHERS: dict[int, Watcher] = {}


def _current(scheduler: BaseScheduler) -> Watcher | None:
    return _WATCHERS.get(id(scheduler))


def _guarded(method: Callable[[str], object], name: str) -> Callable[[], None]:
    def job() -> None:
        try:
            method(name)
        except AutoposterError as e:
            # Expected failures (a mail server down) are logged; the next run tries again.
            logs.event("watch-job-failed", level=logging.ERROR, watch=name, error=str(e))

    return job
