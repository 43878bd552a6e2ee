"""The long-lived pieces a running autoposter holds, built once from the configuration."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from autoposter import logs, publishers as registry
from autoposter.alerts import Alert, Alerter, LogOnly, Notifier, notifier_for
from autoposter.config import Config
from autoposter.fetch import Fetcher
from autoposter.parsepool import ParserPool
from autoposter.pipeline import (
    Clock,
    DispatchResult,
    FeedFetcher,
    FeedParser,
    PollResult,
    dispatch_due,
    edit_due,
    poll_feed,
    reconcile,
    retract_due,
    utcnow,
)
from autoposter.storage import Storage
from autoposter.types import Attempt, DeliveryState, Publisher

DISPATCH_BATCH = 100
MAX_DISPATCH_PASSES = 1000
# Where the ids of the held deliveries already told to the operators are kept.
_WAITING_TOLD = ("_autoposter", "approval-waiting-told")
_WAITING_LISTED = 50


def build_publishers(config: Config, storage: Storage | None = None) -> dict[str, Publisher]:
    """One publisher per account block (``publishers.build_all``), each with its
    account's stored state when ``storage`` is given."""
    return registry.build_all(
        config, state_for=storage.account_state if storage is not None else None
    )


class ResultObserver(Protocol):
    """Told of what the daemon's jobs did (the metrics): each poll, each delivery attempt."""

    def polled(self, result: PollResult) -> None: ...

    def attempted(self, attempt: Attempt) -> None: ...


@dataclass
class Runtime:
    """Storage, fetcher, parser pool and publishers, and the two jobs that use them.

    Every result of ``poll`` and every attempt ``dispatch`` makes is handed to
    each of ``observers``.
    """

    config: Config
    storage: Storage
    fetcher: FeedFetcher
    parser: FeedParser
    publishers: Mapping[str, Publisher]
    alerts: Notifier = field(default_factory=LogOnly)
    now: Clock = utcnow
    stopping: threading.Event = field(default_factory=threading.Event)
    observers: list[ResultObserver] = field(default_factory=list)
    _dispatch_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, config: Config, *, parse_workers: int = 2) -> Runtime:
        storage = Storage.open(config.database)
        try:
            publishers = build_publishers(config, storage)
            resume_on_new_credentials(config, storage)
            report_orphans(config, storage)
        except BaseException:
            storage.close()
            raise
        return cls(
            config=config,
            storage=storage,
            fetcher=Fetcher(user_agent=config.user_agent, allow_networks=config.allow_networks),
            parser=ParserPool(workers=parse_workers),
            publishers=publishers,
            alerts=notifier_for(config),
        )

    def poll(self, feed_name: str, *, force: bool = False) -> PollResult | None:
        """Poll one feed unless the process is stopping."""
        if self.stopping.is_set():
            return None
        feed = self.config.feeds.get(feed_name)
        if feed is None:
            return None  # removed by a reload while this poll was on its way
        result = poll_feed(
            feed,
            config=self.config,
            alerts=self.alerts,
            storage=self.storage,
            fetcher=self.fetcher,
            parser=self.parser,
            now=self.now,
            force=force,
        )
        for observer in self.observers:
            observer.polled(result)
        return result

    def poll_all(self, *, workers: int = 8) -> list[PollResult]:
        """Poll every enabled feed once, several at a time."""
        names = [name for name, feed in self.config.feeds.items() if feed.enabled]
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names) or 1))) as pool:
            results = pool.map(lambda name: self.poll(name, force=True), names)
            return [r for r in results if r is not None]

    def dispatch(self) -> DispatchResult:
        """Send what is due, in passes of DISPATCH_BATCH, until nothing more is due."""
        total = DispatchResult()
        with self._dispatch_lock:
            reconcile(
                config=self.config,
                storage=self.storage,
                publishers=self.publishers,
                alerts=self.alerts,
                now=self.now,
                on_settled=self._attempted,
            )
            # Taking back comes before posting: a retracted item must not wait behind
            # a backlog, and its deliveries not yet sent are skipped first.
            retract_due(
                config=self.config,
                storage=self.storage,
                publishers=self.publishers,
                alerts=self.alerts,
                now=self.now,
                limit=DISPATCH_BATCH,
            )
            # Corrections at the source: edits are small and the posts are already out.
            edit_due(
                config=self.config,
                storage=self.storage,
                publishers=self.publishers,
                alerts=self.alerts,
                now=self.now,
                limit=DISPATCH_BATCH,
            )
            for _ in range(MAX_DISPATCH_PASSES):
                if self.stopping.is_set():
                    break
                result = dispatch_due(
                    config=self.config,
                    storage=self.storage,
                    publishers=self.publishers,
                    alerts=self.alerts,
                    now=self.now,
                    limit=DISPATCH_BATCH,
                )
                total.sent += result.sent
                total.retried += result.retried
                total.failed += result.failed
                total.unknown += result.unknown
                total.waiting = result.waiting
                total.attempts += result.attempts
                for attempt in result.attempts:
                    self._attempted(attempt)
                # Deferred and waiting deliveries leave the due set; stop when a pass
                # found less than a full batch.
                if result.waiting or len(result.attempts) < DISPATCH_BATCH:
                    break
        return total

    def alert_waiting(self) -> int:
        """One alert listing the deliveries held (for approval, or by the burst guard) for
        longer than ``alerts.approval_waiting_after`` that no earlier alert listed;
        returns how many it listed. The ids told are kept in the database, so a
        restart does not tell them again."""
        after = self.config.alerts.approval_waiting_after
        now = self.now()
        waiting = self.storage.deliveries_in(
            DeliveryState.HELD, updated_before=now - timedelta(seconds=after)
        )
        told = set(json.loads(self.storage.get_account_state(*_WAITING_TOLD) or "[]"))
        new = [d for d in waiting if d.id not in told]
        if new:
            lines = [
                f"  {d.id}  {d.account}  {d.feed}: {d.item.title} ({d.hold_reason or 'held'})"
                for d in new[:_WAITING_LISTED]
            ]
            if len(new) > _WAITING_LISTED:
                lines.append(f"  ... and {len(new) - _WAITING_LISTED} more")
            self.alerts.notify(
                Alert(
                    "approval-waiting",
                    f"{len(new)} deliver{'y' if len(new) == 1 else 'ies'} waiting for "
                    f"approval for more than {_duration(after)}",
                    "These deliveries wait for a decision:\n"
                    + "\n".join(lines)
                    + "\n\nSee them with `autoposter queue --state held`, then "
                    "`autoposter approve ID...` or `autoposter reject ID...`.",
                )
            )
        # Only the ones still held are kept: the list stays as short as the queue.
        held = {d.id for d in self.storage.deliveries_in(DeliveryState.HELD)}
        keep = sorted((told | {d.id for d in new}) & held)
        if keep != sorted(told):
            self.storage.set_account_state(*_WAITING_TOLD, json.dumps(keep))
        return len(new)

    def _attempted(self, attempt: Attempt) -> None:
        for observer in self.observers:
            observer.attempted(attempt)

    def replace_config(self, config: Config, publishers: Mapping[str, Publisher]) -> None:
        """Apply a reloaded configuration: feeds, accounts, credentials, alerts.

        Waits for a dispatch in flight, then swaps; the old publishers are closed.
        A poll in flight finishes with the feed settings it started with.
        """
        previous = self.config
        alerts = self.alerts
        if (config.alerts, config.smtp) != (previous.alerts, previous.smtp):
            alerts = notifier_for(config)
        with self._dispatch_lock:
            old_publishers, old_alerts = self.publishers, self.alerts
            self.config, self.publishers, self.alerts = config, publishers, alerts
        for publisher in old_publishers.values():
            publisher.close()
        if old_alerts is not alerts and isinstance(old_alerts, Alerter):
            old_alerts.close()
        resume_on_new_credentials(config, self.storage)

    def close(self) -> None:
        if isinstance(self.alerts, Alerter):
            self.alerts.close()
        for publisher in self.publishers.values():
            publisher.close()
        close_parser = getattr(self.parser, "close", None)
        if close_parser is not None:
            close_parser()
        close_fetcher = getattr(self.fetcher, "close", None)
        if close_fetcher is not None:
            close_fetcher()
        self.storage.close()


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def credentials_digest(options: Mapping[str, object], salt: str) -> str:
    """A keyed digest of an account's options: tells that its credentials changed, and,
    salted per database, gives nothing to test a guessed token against."""
    text = json.dumps(options, sort_keys=True, default=str)
    return hmac.new(salt.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def resume_on_new_credentials(config: Config, storage: Storage) -> None:
    """An account paused after an auth failure resumes when its block in the config changed."""
    paused = storage.paused_accounts()
    now = utcnow()
    salt = storage.get_account_state("_autoposter", "credentials-salt")
    if salt is None:
        salt = secrets.token_hex(16)
        storage.set_account_state("_autoposter", "credentials-salt", salt)
    for name, account in config.accounts.items():
        digest = credentials_digest(account.options, salt)
        previous = storage.swap_credentials(name, digest, now)
        changed = previous is not None and previous != digest
        if name in paused and changed and storage.resume_account(name, now):
            logs.event(
                "account-resumed", account=name, reason="new credentials in the configuration"
            )


def report_orphans(config: Config, storage: Storage) -> None:
    """Deliveries of an account no longer in the configuration wait; say so at start."""
    for account in sorted(storage.waiting_accounts() - set(config.accounts)):
        logs.event(
            "orphaned-deliveries",
            level=logging.WARNING,
            account=account,
            hint=f"put the account back in the configuration, or: autoposter queue "
            f"--state pending, then autoposter skip ID... ({account})",
        )
