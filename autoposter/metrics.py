"""Prometheus metrics, fed by the pipeline's results and by the database at scrape time.

Counters and histograms are fed with what the pipeline returns: the daemon's
runtime hands each poll's ``PollResult`` to ``polled`` and each delivery's
``Attempt`` to ``attempted``, so the pipeline needs no metrics code of its own.
A delivery event is the attempt's outcome: ``published`` (sent by this
attempt), ``found-posted`` (an earlier attempt's post found), ``retry``,
``failed``, ``unknown``, ``account-paused``. Gauges of the present state (deliveries per state, last
successful poll, paused accounts) are read from the database when Prometheus
scrapes, so they are right even across restarts and for changes made by CLI
commands.

Metric names (all prefixed ``autoposter_``)::

    polls_total{feed,status}                     every poll: new, baseline, unchanged,
                                                 not-modified, error
    poll_errors_total{feed}                      polls that failed
    poll_duration_seconds                        histogram
    items_seen_total{feed,kind}                  new items stored; kind=baseline for a
                                                 feed's first poll (never posted)
    burst_held_total{feed}                       polls whose items were held by the burst guard
    delivery_events_total{account,event}         published, found-posted, retry, failed,
                                                 unknown, account-paused
    publish_duration_seconds{account}            histogram of successful posts
    deliveries{account,state}                    deliveries now in each state (database)
    feed_last_success_timestamp_seconds{feed}    last successful poll (database)
    feed_last_poll_timestamp_seconds{feed}       last poll, successful or not (database)
    feed_failures{feed}                          failed polls in a row (database)
    feed_items{feed}                             items stored (database)
    account_paused{account}                      1 while the account is paused
    database_up                                  1 when the last scrape could read the database
    scheduler_heartbeat_timestamp_seconds        last heartbeat of the scheduler
    config_reloads_total{result}                 SIGHUP reloads: ok or failed
    build_info{version}                          always 1
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from autoposter import __version__, logs
from autoposter.pipeline import PollResult
from autoposter.storage import Storage
from autoposter.types import Attempt, DeliveryOutcome, DeliveryState, PollStatus

__all__ = ["Metrics"]

POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PUBLISH_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# The event label of each counted outcome; a delivery another dispatcher claimed is not one.
_EVENTS = {
    DeliveryOutcome.RETRY: "retry",
    DeliveryOutcome.FAILED: "failed",
    DeliveryOutcome.UNKNOWN: "unknown",
    DeliveryOutcome.PAUSED: "account-paused",
}

# The *_created series double every counter's lines and tell nothing a restart does not.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """One registry per daemon (not the process-global one), so tests can run several.

    ``storage`` and ``accounts`` are called at each scrape: the daemon may swap
    its configuration on reload.
    """

    def __init__(
        self,
        storage: Callable[[], Storage],
        accounts: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter(
            "autoposter_polls", "Feed polls by outcome.", ["feed", "status"], registry=r
        )
        self.poll_errors = Counter(
            "autoposter_poll_errors", "Feed polls that failed.", ["feed"], registry=r
        )
        self.poll_seconds = Histogram(
            "autoposter_poll_duration_seconds",
            "Time to poll one feed.",
            buckets=POLL_BUCKETS,
            registry=r,
        )
        self.items = Counter(
            "autoposter_items_seen",
            "New items stored; kind=baseline for a feed's first poll (not posted).",
            ["feed", "kind"],
            registry=r,
        )
        self.burst_held = Counter(
            "autoposter_burst_held",
            "Polls that brought more new items than burst_limit (held for an operator).",
            ["feed"],
            registry=r,
        )
        self.delivery_events = Counter(
            "autoposter_delivery_events",
            "What happened to deliveries, by account.",
            ["account", "event"],
            registry=r,
        )
        self.publish_seconds = Histogram(
            "autoposter_publish_duration_seconds",
            "Time to make one post, from rendering to the network's answer.",
            ["account"],
            buckets=PUBLISH_BUCKETS,
            registry=r,
        )
        self.heartbeat = Gauge(
            "autoposter_scheduler_heartbeat_timestamp_seconds",
            "Unix time of the scheduler's last heartbeat.",
            registry=r,
        )
        self.reloads = Counter(
            "autoposter_config_reloads",
            "Configuration reloads (SIGHUP) by result.",
            ["result"],
            registry=r,
        )
        build = Gauge("autoposter_build_info", "Always 1.", ["version"], registry=r)
        build.labels(__version__).set(1)
        self._paused_seen: dict[str, bool] = {}
        self._lock = threading.Lock()
        r.register(_StateCollector(storage, accounts, self._paused_from_events))

    # --- results ----------------------------------------------------------------------

    def polled(self, result: PollResult) -> None:
        """Count one poll; a feed left alone during its backoff was not polled."""
        if result.status is PollStatus.BACKOFF:
            return
        self.polls.labels(result.feed, str(result.status)).inc()
        if result.status is PollStatus.ERROR:
            self.poll_errors.labels(result.feed).inc()
        if result.status in (PollStatus.NEW, PollStatus.BASELINE) and result.new > 0:
            kind = "baseline" if result.status is PollStatus.BASELINE else "new"
            self.items.labels(result.feed, kind).inc(result.new)
        if result.burst:
            self.burst_held.labels(result.feed).inc()
        if result.seconds is not None:
            self.poll_seconds.observe(result.seconds)

    def attempted(self, attempt: Attempt) -> None:
        """Count what one attempt did with one delivery."""
        account = attempt.account
        if attempt.outcome is DeliveryOutcome.SENT:
            event = "found-posted" if attempt.found else "published"
            if attempt.seconds is not None:
                self.publish_seconds.labels(account).observe(attempt.seconds)
            with self._lock:
                self._paused_seen[account] = False
        elif attempt.outcome in _EVENTS:
            event = _EVENTS[attempt.outcome]
            if attempt.outcome is DeliveryOutcome.PAUSED:
                with self._lock:
                    self._paused_seen[account] = True
        else:
            return
        self.delivery_events.labels(account, event).inc()

    def _paused_from_events(self) -> dict[str, bool]:
        with self._lock:
            return dict(self._paused_seen)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)


class _StateCollector(Collector):
    """Reads the present state from the database at each scrape."""

    def __init__(
        self,
        storage: Callable[[], Storage],
        accounts: Callable[[], Iterable[str]],
        paused_from_events: Callable[[], dict[str, bool]],
    ) -> None:
        self._storage = storage
        self._accounts = accounts
        self._paused_from_events = paused_from_events

    def describe(self) -> Iterator[Metric]:
        return iter(())  # not read at registration: that would query the database

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "autoposter_database_up", "1 when this scrape could read the database."
        )
        try:
            storage = self._storage()
            feeds = storage.feed_summaries()
            accounts = storage.account_summaries()
            paused_in_db = _paused_accounts(storage)
        except Exception as e:  # the scrape still answers, and says the database did not
            up.add_metric([], 0)
            yield up
            logs.event("metrics-database-error", level=logging.WARNING, error=str(e))
            return
        up.add_metric([], 1)
        yield up

        deliveries = GaugeMetricFamily(
            "autoposter_deliveries",
            "Deliveries now in each state, by account.",
            labels=["account", "state"],
        )
        for summary in accounts:
            for state in DeliveryState:
                deliveries.add_metric(
                    [summary.account, state.value], summary.counts.get(state.value, 0)
                )
        yield deliveries

        success = GaugeMetricFamily(
            "autoposter_feed_last_success_timestamp_seconds",
            "Unix time of the feed's last successful poll.",
            labels=["feed"],
        )
        polled = GaugeMetricFamily(
            "autoposter_feed_last_poll_timestamp_seconds",
            "Unix time of the feed's last poll, successful or not.",
            labels=["feed"],
        )
        failures = GaugeMetricFamily(
            "autoposter_feed_failures", "Failed polls in a row.", labels=["feed"]
        )
        stored = GaugeMetricFamily("autoposter_feed_items", "Items stored.", labels=["feed"])
        for feed in feeds:
            if feed.last_success_at is not None:
                success.add_metric([feed.name], feed.last_success_at.timestamp())
            if feed.last_polled_at is not None:
                polled.add_metric([feed.name], feed.last_polled_at.timestamp())
            failures.add_metric([feed.name], feed.failures)
            stored.add_metric([feed.name], feed.items)
        yield success
        yield polled
        yield failures
        yield stored

        paused = GaugeMetricFamily(
            "autoposter_account_paused",
            "1 while the account is paused (its credentials were refused).",
            labels=["account"],
        )
        seen = self._paused_from_events()
        names = set(self._accounts()) | set(seen) | set(paused_in_db or ())
        for name in sorted(names):
            is_paused = name in paused_in_db if paused_in_db is not None else seen.get(name)
            paused.add_metric([name], 1 if is_paused else 0)
        yield paused


def _paused_accounts(storage: Storage) -> set[str] | None:
    """The paused accounts if the storage records them, else None (use the events)."""
    reader = getattr(storage, "paused_accounts", None)
    if reader is None:
        return None
    return set(reader())
