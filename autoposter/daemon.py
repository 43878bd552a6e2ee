"""The daemon: one jittered job per feed plus the dispatch job, stopped cleanly by a signal."""

from __future__ import annotations

import logging
import random
import signal
import threading
from datetime import datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from autoposter import logs
from autoposter.pipeline import recover_interrupted
from autoposter.runtime import Runtime

POLL_THREADS = 8
MAX_JITTER = 30.0
FIRST_POLL_SPREAD = 10.0


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
        if not feed.enabled:
            continue
        offset = random.uniform(0, min(feed.poll_interval, FIRST_POLL_SPREAD))  # noqa: S311
        scheduler.add_job(
            runtime.poll,
            "interval",
            seconds=feed.poll_interval,
            jitter=_jitter(feed.poll_interval),
            next_run_time=start + timedelta(seconds=offset),
            id=f"poll:{name}",
            args=[name],
        )
    scheduler.add_job(
        runtime.dispatch,
        "interval",
        seconds=config.dispatch_interval,
        next_run_time=start,
        id="dispatch",
    )
    return scheduler


def serve(runtime: Runtime, *, stop: threading.Event | None = None) -> None:
    """Run until SIGTERM or SIGINT (or ``stop`` is set), then finish the jobs in flight."""
    stop = stop or threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        logs.event("stopping", signal=signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        recover_interrupted(runtime.storage, runtime.now)
        scheduler = build_scheduler(runtime)
        scheduler.start()
        logs.event(
            "started",
            feeds=sum(1 for f in runtime.config.feeds.values() if f.enabled),
            accounts=len(runtime.publishers),
            database=runtime.storage.safe_url,
        )
        while not stop.wait(1.0):
            pass
        # Jobs not yet started return at once; the ones running finish their feed.
        runtime.stopping.set()
        scheduler.shutdown(wait=True)
        logs.event("stopped", level=logging.INFO)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
