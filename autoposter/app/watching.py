"""Operations of the reputation watch: poll the watches, list what they found, send the
digest. Each raises NotFoundError for a watch the configuration does not have."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autoposter.config import Config
from autoposter.errors import NotFoundError
from autoposter.storage.watch import StoredMatch
from autoposter.watch.digest import Digest
from autoposter.watch.notify import match_json
from autoposter.watch.run import PollReport, Watcher

__all__ = [
    "DigestOutcome",
    "WatchRun",
    "mentions",
    "mentions_json",
    "run_watches",
    "send_digests",
]


def _names(config: Config, watch: str | None) -> list[str]:
    if not config.watch.watches:
        raise NotFoundError("watch", watch or "", ())
    if watch is None:
        return list(config.watch.watches)
    if watch not in config.watch.watches:
        raise NotFoundError("watch", watch, tuple(config.watch.watches))
    return [watch]


@dataclass(frozen=True, slots=True)
class WatchRun:
    reports: tuple[PollReport, ...]
    purged: int


def run_watches(config: Config, *, alerts: bool = True) -> WatchRun:
    """Poll every source of every watch once, store new matches, send the alerts (unless
    ``alerts`` is false), and purge what is past retention."""
    _names(config, None)
    with Watcher.open(config) as watcher:
        reports = tuple(watcher.poll_all(alerts=alerts))
        return WatchRun(reports, watcher.purge())


def mentions(config: Config, *, since: datetime, watch: str | None = None) -> list[StoredMatch]:
    """What the watches (or one) found since ``since``, already stored; fetches nothing."""
    names = _names(config, watch)
    with Watcher.open(config) as watcher:
        return [found for name in names for found in watcher.store.since(since, name)]


def mentions_json(found: Sequence[StoredMatch]) -> list[dict[str, Any]]:
    """Matches as the JSON objects the webhook and ``mentions --json`` carry."""
    return [match_json(stored) for stored in found]


@dataclass(frozen=True, slots=True)
class DigestOutcome:
    """One watch's digest: built (``dry_run``), sent, or nothing new (``digest`` None)."""

    watch: str
    digest: Digest | None
    sent: bool


def send_digests(
    config: Config, *, watch: str | None = None, dry_run: bool = False
) -> list[DigestOutcome]:
    """Poll the watches (or one), then send each one's digest of what is new since the
    last; with ``dry_run``, build it and send and mark nothing. Sends no alert: alerts
    are the daemon's job, and a dry run above all must not send one."""
    names = _names(config, watch)
    outcomes: list[DigestOutcome] = []
    with Watcher.open(config) as watcher:
        for name in names:
            watcher.poll(name, alerts=False)
            if dry_run:
                built, _matches = watcher.build_digest(name)
                outcomes.append(DigestOutcome(name, built, sent=False))
            else:
                sent = watcher.send_digest(name)
                outcomes.append(DigestOutcome(name, sent, sent=sent is not None))
    return outcomes
