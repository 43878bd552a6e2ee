"""The watch's stages in order: fetch each source -> match keywords -> store once ->
alert (rate-limited) ; and, on its own schedule, digest -> send -> mark sent ; purge."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from autoposter import logs
from autoposter.config import Config, WatchConfig, WatchSourceConfig
from autoposter.errors import FeedError, NotifyError
from autoposter.fetch import Fetcher
from autoposter.storage import Storage
from autoposter.storage.watch import Match, StoredMatch
from autoposter.watch.digest import Digest, FailingSource, build_digest
from autoposter.watch.links import dedup_key
from autoposter.watch.matching import find_keywords
from autoposter.watch.notify import send_alert, send_digest
from autoposter.watch.sources import (
    ApiClient,
    Found,
    RateLimited,
    Source,
    SourceDeps,
    source_class,
)

__all__ = ["PollReport", "Watcher"]

USER_AGENT = "autoposter-watch (+https://github.com/autoposter)"
MAX_BACKOFF = 6 * 3600.0


@dataclass(slots=True)
class PollReport:
    """What one poll of a watch did: new matches stored, alerts sent, sources failed."""

    watch: str
    new: list[StoredMatch] = field(default_factory=list)
    alerted: int = 0
    alerts_held: int = 0
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Backoff:
    failures: int = 0
    not_before: datetime | None = None
    # The last error and when the failures in a row began, for the digest.
    error: str = ""
    since: datetime | None = None


class Watcher:
    """Polls the configured watches and sends their digests; one per process."""

    def __init__(
        self,
        config: Config,
        storage: Storage,
        *,
        fetcher: Fetcher | None = None,
        api: ApiClient | None = None,
    ) -> None:
        self.config = config
        self.store = storage.watch_store()
        self._storage = storage
        self._own_fetcher = fetcher is None
        self._fetcher = fetcher or Fetcher(
            user_agent=config.user_agent, allow_networks=config.allow_networks
        )
        self._own_api = api is None
        self._api = api or ApiClient(user_agent=config.user_agent or USER_AGENT)
        self._sources: dict[tuple[str, str], Source] = {}
        self._backoff: dict[tuple[str, str], _Backoff] = {}

    @classmethod
    @contextmanager
    def open(cls, config: Config) -> Iterator[Watcher]:
        """A watcher over its own opened database, closed with it."""
        with Storage.open(config.database) as storage:
            watcher = cls(config, storage)
            try:
                yield watcher
            finally:
                watcher.close()

    def reconfigure(self, config: Config) -> None:
        """Use a reloaded configuration; sources are rebuilt, back-off state kept."""
        self.config = config
        self._sources.clear()

    def close(self) -> None:
        if self._own_fetcher:
            self._fetcher.close()
        if self._own_api:
            self._api.close()

    # --- polling

    def poll_all(self, *, alerts: bool = True, now: datetime | None = None) -> list[PollReport]:
        return [self.poll(name, alerts=alerts, now=now) for name in self.config.watch.watches]

    def poll(self, name: str, *, alerts: bool = True, now: datetime | None = None) -> PollReport:
        """Fetch every source of watch ``name``; each source fails on its own."""
        now = now or datetime.now(UTC)
        watch = self.config.watch.watches[name]
        report = PollReport(watch=name)
        matches: list[Match] = []
        for source_config in watch.sources:
            key = (name, source_config.name)
            backoff = self._backoff.setdefault(key, _Backoff())
            if backoff.not_before is not None and now < backoff.not_before:
                report.errors[source_config.name] = "backing off after failures"
                continue
            try:
                found = self._source(name, source_config).fetch()
            except FeedError as e:
                backoff.failures += 1
                # The next regular poll still happens after one failure; then 1.5, 3.5,
                # 7.5... intervals are skipped, up to MAX_BACKOFF.
                delay = min(watch.poll_interval * (2 ** (backoff.failures - 1) - 0.5), MAX_BACKOFF)
                if isinstance(e, RateLimited) and e.retry_after is not None:
                    delay = max(delay, e.retry_after)
                backoff.not_before = now + timedelta(seconds=delay)
                backoff.error = logs.redact_known(str(e))
                backoff.since = backoff.since or now
                report.errors[source_config.name] = str(e)
                logs.event(
                    "watch-source-failed",
                    level=logging.WARNING,
                    watch=name,
                    source=source_config.name,
                    error=str(e),
                    retry_in=f"{delay:.0f}s",
                )
                continue
            backoff.failures, backoff.not_before, backoff.since = 0, None, None
            matches += [_match(watch, source_config.name, f) for f in found]
        report.new = self.store.add(_unique(matches), now=now)
        for stored in report.new:
            logs.event(
                "watch-match",
                watch=name,
                source=stored.match.source,
                url=stored.match.url,
                keywords=",".join(stored.match.keywords),
            )
        if alerts:
            self._alert(watch, report, now)
        logs.event(
            "watch-polled",
            watch=name,
            new=len(report.new),
            alerted=report.alerted,
            failed=len(report.errors),
        )
        return report

    def _source(self, watch: str, config: WatchSourceConfig) -> Source:
        key = (watch, config.name)
        if key not in self._sources:
            deps = SourceDeps(self._fetcher, self._api, self._storage, self.config.accounts)
            source: Source = source_class(config.type).from_config(config, deps)
            self._sources[key] = source
        return self._sources[key]

    def _alert(self, watch: WatchConfig, report: PollReport, now: datetime) -> None:
        pending = [m for m in report.new if m.match.alert]
        if not pending:
            return
        sent = self.store.alerts_sent_since(watch.name, now - timedelta(hours=1))
        room = max(0, watch.alert_max_per_hour - sent)
        done: list[int] = []
        for stored in pending[:room]:
            try:
                send_alert(self.config, stored, watch.recipients)
            except NotifyError as e:
                logs.event(
                    "watch-alert-not-sent", level=logging.ERROR, watch=watch.name, error=str(e)
                )
                break
            done.append(stored.id)
        self.store.mark_alerted(done, now=now)
        report.alerted = len(done)
        report.alerts_held = len(pending) - len(done)
        if report.alerts_held:
            # Rate-limited: the rest waits for the digest, where it is flagged ALERT.
            logs.event(
                "watch-alerts-limited",
                level=logging.WARNING,
                watch=watch.name,
                held=report.alerts_held,
                max_per_hour=watch.alert_max_per_hour,
            )

    # --- digest and retention

    def build_digest(
        self, name: str, *, now: datetime | None = None
    ) -> tuple[Digest, list[StoredMatch]]:
        now = now or datetime.now(UTC)
        watch = self.config.watch.watches[name]
        matches = self.store.undigested(name)
        failing = [
            FailingSource(source.name, backoff.failures, backoff.since, backoff.error)
            for source in watch.sources
            if (backoff := self._backoff.get((name, source.name))) is not None
            and backoff.failures
            and backoff.since is not None
        ]
        digest = build_digest(watch, matches, tz=self.config.tz(), now=now, failing=failing)
        return digest, matches

    def send_digest(self, name: str, *, now: datetime | None = None) -> Digest | None:
        """Send watch ``name``'s digest; None when there was nothing to send.

        Nothing new sends nothing, unless the watch says ``send_empty: true`` or a
        source has been failing (its silence is not "nobody talked about us").
        Matches are marked sent only after every channel accepted the digest.
        """
        now = now or datetime.now(UTC)
        watch = self.config.watch.watches[name]
        digest, matches = self.build_digest(name, now=now)
        if not matches and not watch.send_empty and not digest.failing:
            logs.event("watch-digest-skipped", watch=name, reason="nothing new")
            return None
        send_digest(self.config, digest, matches)
        self.store.mark_digested(digest.match_ids, now=now)
        logs.event("watch-digest-sent", watch=name, matches=len(matches))
        return digest

    def purge(self, *, now: datetime | None = None) -> int:
        purged = self.store.purge(self.config.watch.retention, now=now)
        if purged:
            logs.event("watch-purged", matches=purged)
        return purged


def _match(watch: WatchConfig, source: str, found: Found) -> Match:
    haystack = "\n".join(part for part in (found.title, found.author or "", found.text) if part)
    alert_words = find_keywords(haystack, watch.alert_keywords)
    return Match(
        watch=watch.name,
        source=source,
        url=found.url,
        canonical_url=dedup_key(found.url),
        title=found.title,
        author=found.author,
        text=found.text,
        published=found.published,
        keywords=(*find_keywords(haystack, watch.keywords), *alert_words),
        alert=bool(alert_words),
    )


def _unique(matches: Sequence[Match]) -> list[Match]:
    # The same article from two sources in one poll: the first source listed wins.
    # Across polls, the unique constraint does the same job.
    seen: dict[str, Match] = {}
    for match in matches:
        seen.setdefault(match.canonical_url, match)
    return list(seen.values())
