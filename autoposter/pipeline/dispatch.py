"""The delivery engine: each due delivery, sent exactly once.

For each due delivery, oldest first: is the account paused? is it quiet
hours, a blackout, or too soon after the last post (pacing)? -> wait.
Otherwise render -> was an earlier attempt posted after all? (``find``) ->
claim it (``sending`` committed before the network call) -> publish ->
``sent`` | retry later | ``failed`` | ``unknown`` (the network cannot tell).

Deliveries left in ``sending`` by a process that died are reconciled
through the publisher's ``find``: found -> ``sent``, not found -> sent
again with the same key, cannot tell -> ``unknown`` for an operator.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from autoposter import logs
from autoposter.alerts import Alert, LogOnly, Notifier
from autoposter.config import Config
from autoposter.errors import AuthError, BudgetExceededError, PublishError
from autoposter.pipeline.common import Clock, utcnow
from autoposter.policy import (
    DeliveryPolicy,
    Wait,
    WaitReason,
    Window,
    closed_until,
    pacing_until,
)
from autoposter.storage import DueDelivery, Storage
from autoposter.types import (
    Attempt,
    DeliveryOutcome,
    DeliveryState,
    Item,
    Post,
    PostSpec,
    Publisher,
)

_NO_ALERTS = LogOnly()
_E = TypeVar("_E", bound=BaseException)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between attempts after retryable errors: from the account's ``retry_delay``,
    doubling per attempt up to ``max_delay``, with jitter."""

    max_delay: float = 3600.0

    def delay(self, first: float, attempts: int, retry_after: float | None = None) -> float:
        base = min(first * (1 << min(max(attempts - 1, 0), 30)), self.max_delay)
        jittered = base * random.uniform(0.8, 1.2)  # noqa: S311 - spreading retries, not security
        return max(jittered, retry_after or 0.0)


@dataclass(slots=True)
class DispatchResult:
    """Counts of one dispatch, and each attempt it made, in order."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    waiting: int = 0
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def outcomes(self) -> dict[int, DeliveryOutcome]:
        """Delivery id -> what its attempt came to."""
        return {a.delivery: a.outcome for a in self.attempts}


def can_find(publisher: Publisher) -> bool:
    """Whether the network can say if a post exists (Telegram and webhooks cannot)."""
    return publisher.can_find


def _scrubbed(error: _E, config: Config) -> _E:
    """``error`` with every configured secret taken out of its text and its causes'.

    Every publisher error reaches the database, the log and the alerts through
    here: a network library may quote a URL that holds a token (the Telegram Bot
    API has it in its path).
    """
    logs.scrub(error, config.secrets)
    return error


def spec_for(config: Config, feed_name: str, account: str, item: Item) -> PostSpec:
    """How the feed wants its items written; a feed since removed from the config
    falls back to the defaults so its queued items still go out."""
    feed = config.feeds.get(feed_name)
    if feed is None:
        return PostSpec(
            feed=feed_name,
            account=account,
            template=config.default_template,
            language=item.language or config.default_language,
        )
    return PostSpec(
        feed=feed_name,
        account=account,
        template=feed.template,
        language=item.language or feed.language,
        hashtags=feed.hashtags,
    )


class Pacing:
    """When each account may post next, computed once per pass from its history."""

    def __init__(self, config: Config, storage: Storage) -> None:
        self._config = config
        self._storage = storage
        self._sent: dict[str, list[datetime]] = {}

    def until(self, account: str, now: datetime) -> datetime | None:
        if account not in self._sent:
            self._sent[account] = self._storage.sent_times(account, now - timedelta(days=1))
        return pacing_until(now, self._sent[account], self._config.policy(account))

    def record(self, account: str, at: datetime) -> None:
        self._sent.setdefault(account, []).append(at)


def dispatch_due(
    *,
    config: Config,
    storage: Storage,
    publishers: Mapping[str, Publisher],
    alerts: Notifier = _NO_ALERTS,
    now: Clock = utcnow,
    backoff: Backoff = Backoff(),
    limit: int = 100,
    ids: list[int] | None = None,
    on_done: Callable[[DueDelivery, DeliveryOutcome], None] | None = None,
) -> DispatchResult:
    """Send what is due and allowed, one delivery at a time, oldest first."""
    result = DispatchResult()
    for account in storage.resume_due_accounts(now()):
        logs.event("account-resumed", account=account, reason="its pause has ended")
    paused = storage.paused_accounts()
    # An account whose last post may or may not exist posts nothing else until it is
    # settled: the lookup then still finds it among the account's latest posts.
    doubt = storage.in_doubt()
    pacing = Pacing(config, storage)
    stopped: set[str] = set()  # accounts that failed in this pass: the rest waits
    # Paused and unconfigured accounts, and the backlog of accounts in doubt, are left
    # out of the query itself, so they never crowd the others out of a batch.
    usable = [name for name in publishers if name not in paused]
    due = storage.due_deliveries(now(), limit=limit, ids=ids, accounts=usable, only=doubt)
    for delivery in due:
        account = delivery.account
        publisher = publishers[account]
        if account in stopped:
            result.waiting += 1
            continue
        wait = None if delivery.urgent else _must_wait(delivery, config, pacing, now())
        if wait is not None and wait.until is not None:
            storage.defer(delivery.id, wait.until)
            logs.event(
                "waiting",
                account=account,
                delivery=delivery.id,
                until=wait.until.astimezone(config.tz()).isoformat(timespec="minutes"),
                reason=wait.detail,
            )
            result.waiting += 1
            continue
        attempt = _deliver(delivery, publisher, config, storage, alerts, now, backoff)
        result.attempts.append(attempt)
        outcome = attempt.outcome
        if outcome is DeliveryOutcome.SENT:
            result.sent += 1
            pacing.record(account, now())
        elif outcome in (DeliveryOutcome.RETRY, DeliveryOutcome.PAUSED):
            result.retried += 1
            stopped.add(account)
        elif outcome is DeliveryOutcome.UNKNOWN:
            result.unknown += 1
        else:
            result.failed += 1
        if on_done is not None:
            on_done(delivery, outcome)
    return result


def waiting_for(
    delivery: DueDelivery,
    config: Config,
    pacing: Pacing,
    paused: Mapping[str, str],
    now: datetime,
) -> Wait | None:
    """Why a delivery not yet sent waits at ``now``, by the rules dispatch applies; None
    when it goes out at the next pass. For what a person is shown (status, post now,
    the console); dispatch itself asks ``_must_wait``, the part of it that is about
    time."""
    if delivery.state == DeliveryState.HELD.value:
        return Wait(WaitReason.APPROVAL, None, delivery.hold_reason or "")
    if delivery.account in paused:
        return Wait(WaitReason.PAUSED, None, paused[delivery.account])
    later = delivery.next_attempt_at
    if later is not None and later > now and delivery.last_error:
        return Wait(WaitReason.RETRY, later, delivery.last_error)
    wait = None if delivery.urgent else _must_wait(delivery, config, pacing, now)
    if wait is not None:
        return wait
    if later is not None and later > now:
        return Wait(WaitReason.LATER, later)
    return None


def _must_wait(delivery: DueDelivery, config: Config, pacing: Pacing, now: datetime) -> Wait | None:
    policy = config.policy(delivery.account)
    feed = config.feeds.get(delivery.feed)
    windows: list[Window | DeliveryPolicy] = [policy]
    if feed is not None:
        windows.append(feed.window)
    closed = closed_until(now, config.tz(), windows)
    if closed is not None:
        until, why = closed
        # The rule that holds it now names the wait; the chain's end is when it goes.
        blackout = any(b.ends_after(now) for w in windows for b in w.blackouts)
        return Wait(WaitReason.BLACKOUT if blackout else WaitReason.QUIET_HOURS, until, why)
    paced = pacing.until(delivery.account, now)
    if paced is not None:
        return Wait(WaitReason.PACING, paced, f"pacing (min_interval {policy.min_interval:g} s)")
    return None


def _render(delivery: DueDelivery, publisher: Publisher, config: Config) -> Post:
    spec = spec_for(config, delivery.feed, delivery.account, delivery.item)
    post = publisher.render(delivery.item, spec)
    # A person's edit in the console replaces the words; the card, image and link stay.
    return post if delivery.text is None else replace(post, text=delivery.text)


def _deliver(
    delivery: DueDelivery,
    publisher: Publisher,
    config: Config,
    storage: Storage,
    alerts: Notifier,
    now: Clock,
    backoff: Backoff,
) -> Attempt:
    started = time.monotonic()

    def done(outcome: DeliveryOutcome, *, found: bool = False) -> Attempt:
        seconds = None
        if outcome is DeliveryOutcome.SENT and not found:
            seconds = time.monotonic() - started
        return Attempt(delivery.id, delivery.account, outcome, found=found, seconds=seconds)

    fields: dict[str, Any] = {
        "account": delivery.account,
        "feed": delivery.feed,
        "delivery": delivery.id,
    }
    try:
        post = _render(delivery, publisher, config)
    except (PublishError, ValueError) as e:
        error = f"cannot render: {_scrubbed(e, config)}"
        storage.mark_failed(delivery.id, now(), error=error)
        logs.event("failed", level=logging.ERROR, **fields, error=error)
        alerts.notify(_failed_alert(delivery, error))
        return done(DeliveryOutcome.FAILED)
    if (delivery.attempts > 0 or delivery.last_error) and can_find(publisher):
        # An earlier attempt failed in a way that may hide a success: ask first.
        try:
            found = publisher.find(post, key=delivery.idempotency_key)
        except PublishError as e:
            return done(_after_error(delivery, publisher, e, config, storage, alerts, now, backoff))
        except Exception as e:
            logs.log.exception("find-crashed account=%s delivery=%s", delivery.account, delivery.id)
            failure = PublishError(delivery.account, f"lookup failed: {type(e).__name__}: {e}")
            return done(
                _after_error(delivery, publisher, failure, config, storage, alerts, now, backoff)
            )
        if found is not None:
            storage.mark_found(delivery.id, now(), remote_id=found.remote_id, remote_url=found.url)
            logs.event("found-posted", **fields, url=found.url or found.remote_id)
            return done(DeliveryOutcome.SENT, found=True)
    if not storage.mark_sending(delivery.id, now(), attempts=delivery.attempts):
        # Another dispatcher took it, or tried it, since we read it.
        return done(DeliveryOutcome.CLAIMED)
    try:
        receipt = publisher.publish(post, key=delivery.idempotency_key)
    except PublishError as e:
        return done(_after_error(delivery, publisher, e, config, storage, alerts, now, backoff))
    except Exception as e:
        # A publisher bug: the post may or may not exist, so an operator decides.
        logs.log.exception(
            "publisher-crashed account=%s delivery=%s", delivery.account, delivery.id
        )
        error = (
            f"unexpected error in the {delivery.account} publisher: "
            f"{type(e).__name__}: {_scrubbed(e, config)}"
        )
        storage.mark_unknown(delivery.id, now(), error=error)
        alerts.notify(_unknown_alert(delivery, error))
        return done(DeliveryOutcome.UNKNOWN)
    if not storage.mark_sent(
        delivery.id, now(), remote_id=receipt.remote_id, remote_url=receipt.url
    ):
        # Reconciled meanwhile by another process that took this send for dead.
        logs.event(
            "sent-but-reclaimed",
            level=logging.ERROR,
            **fields,
            url=receipt.url or receipt.remote_id,
            hint="raise delivery.reconcile_after above the longest publish",
        )
        return done(DeliveryOutcome.SENT)
    logs.event(
        "published",
        **fields,
        url=receipt.url or receipt.remote_id,
        link=delivery.item.link,
        ms=round((time.monotonic() - started) * 1000, 1),
    )
    return done(DeliveryOutcome.SENT)


def _after_error(
    delivery: DueDelivery,
    publisher: Publisher,
    error: PublishError,
    config: Config,
    storage: Storage,
    alerts: Notifier,
    now: Clock,
    backoff: Backoff,
) -> DeliveryOutcome:
    _scrubbed(error, config)
    at = now()
    attempts = delivery.attempts + 1
    policy = config.policy(delivery.account)
    fields: dict[str, Any] = {
        "account": delivery.account,
        "delivery": delivery.id,
        "attempt": attempts,
        "error": error.message,
    }
    claimed = storage.delivery(delivery.id)
    in_flight = claimed is not None and claimed.state == DeliveryState.SENDING.value
    if isinstance(error, AuthError):
        # The credentials need a person; every delivery of the account waits for them.
        if in_flight:
            storage.requeue(delivery.id, at, detail=f"account paused: {error.message}")
        if storage.pause_account(delivery.account, error.message, at):
            logs.event("account-paused", level=logging.ERROR, **fields)
            alerts.notify(
                Alert(
                    "account-paused",
                    f"account {delivery.account} paused: {error.message}",
                    f"The network refused the credentials of account {delivery.account}:\n"
                    f"  {error.message}\n\nIts posts wait, none is lost. Fix the credentials "
                    f"in the configuration and reload, or run:\n"
                    f"  autoposter account resume {delivery.account}",
                )
            )
        return DeliveryOutcome.PAUSED
    if isinstance(error, BudgetExceededError):
        # Spending more is the institution's decision: stop this account until the
        # period ends (or an operator resumes it), and say so once.
        if in_flight:
            storage.requeue(delivery.id, at, detail=error.message)
        until = at + timedelta(seconds=error.retry_after or 86400)
        if storage.pause_account(delivery.account, error.message, at, until=until):
            logs.event("account-paused", level=logging.ERROR, **fields)
            alerts.notify(
                Alert(
                    "budget-reached",
                    f"account {delivery.account} stopped: {error.message}",
                    f"Account {delivery.account} stopped posting: {error.message}.\n\n"
                    f"Its posts wait and go out when the pause ends "
                    f"({until.astimezone(config.tz()):%Y-%m-%d %H:%M}), or after a higher budget "
                    f"in the configuration and: autoposter account resume {delivery.account}",
                )
            )
        return DeliveryOutcome.PAUSED
    if not in_flight:
        # The lookup before a retry failed; nothing was sent this time. Past the
        # deadline, nobody can say more than an operator looking at the account.
        if at - delivery.created_at > timedelta(seconds=policy.give_up_after):
            message = f"cannot tell whether it was posted: {error.message}"
            storage.mark_unknown(delivery.id, at, error=message)
            logs.event("unknown", level=logging.ERROR, **fields)
            alerts.notify(_unknown_alert(delivery, message))
            return DeliveryOutcome.UNKNOWN
        delay = backoff.delay(policy.retry_delay, attempts)
        storage.defer_account(delivery.account, at + timedelta(seconds=delay))
        logs.event("lookup-failed", level=logging.WARNING, **fields)
        return DeliveryOutcome.RETRY
    if error.retryable and error.maybe_posted and not can_find(publisher):
        message = f"{error.message}; the network cannot tell whether it was posted"
        storage.mark_unknown(delivery.id, at, error=message)
        logs.event("unknown", level=logging.ERROR, **fields)
        alerts.notify(_unknown_alert(delivery, message))
        return DeliveryOutcome.UNKNOWN
    next_at = at + timedelta(seconds=backoff.delay(policy.retry_delay, attempts, error.retry_after))
    # No attempt is scheduled past the deadline: "give up after 24 h" means that.
    too_late = next_at - delivery.created_at > timedelta(seconds=policy.give_up_after)
    if error.retryable and attempts < policy.max_attempts and not too_late:
        storage.mark_retry(
            delivery.id,
            at,
            error=error.message,
            next_attempt_at=next_at,
            in_doubt=error.maybe_posted,
        )
        # The account's other deliveries wait as long: its network is failing.
        storage.defer_account(delivery.account, next_at)
        logs.event(
            "retry",
            level=logging.WARNING,
            **fields,
            next=next_at.astimezone(config.tz()).isoformat(timespec="seconds"),
        )
        return DeliveryOutcome.RETRY
    storage.mark_failed(delivery.id, at, error=error.message)
    logs.event("failed", level=logging.ERROR, **fields)
    alerts.notify(_failed_alert(delivery, error.message))
    return DeliveryOutcome.FAILED


def reconcile(
    *,
    config: Config,
    storage: Storage,
    publishers: Mapping[str, Publisher],
    alerts: Notifier = _NO_ALERTS,
    now: Clock = utcnow,
    on_settled: Callable[[Attempt], None] | None = None,
) -> int:
    """Settle deliveries left in ``sending`` longer than ``reconcile_after`` (their
    process died mid-call). Returns how many were settled; ``on_settled`` is told
    of each one found posted or given up as unknown."""

    def settled_as(delivery: DueDelivery, outcome: DeliveryOutcome, *, found: bool = False) -> None:
        if on_settled is not None:
            on_settled(Attempt(delivery.id, delivery.account, outcome, found=found))

    at = now()
    stale = storage.deliveries_in(
        DeliveryState.SENDING, updated_before=at - timedelta(seconds=config.reconcile_after)
    )
    settled = 0
    for delivery in stale:
        publisher = publishers.get(delivery.account)
        if publisher is None:
            continue
        fields: dict[str, Any] = {"account": delivery.account, "delivery": delivery.id}
        if not can_find(publisher):
            error = "interrupted during the network call; this network cannot tell if it was posted"
            storage.mark_unknown(delivery.id, at, error=error)
            logs.event("unknown", level=logging.ERROR, **fields, error=error)
            alerts.notify(_unknown_alert(delivery, error))
            settled_as(delivery, DeliveryOutcome.UNKNOWN)
            settled += 1
            continue
        try:
            found = publisher.find(
                _render(delivery, publisher, config), key=delivery.idempotency_key
            )
        except Exception as e:  # a publisher bug must not stop every other account
            _scrubbed(e, config)
            if at - delivery.created_at > timedelta(
                seconds=config.policy(delivery.account).give_up_after
            ):
                error = f"interrupted, and the network cannot be asked: {type(e).__name__}: {e}"
                storage.mark_unknown(delivery.id, at, error=error)
                alerts.notify(_unknown_alert(delivery, error))
                settled_as(delivery, DeliveryOutcome.UNKNOWN)
                settled += 1
            logs.event("reconcile-later", level=logging.WARNING, **fields, error=str(e))
            continue
        if found is not None:
            storage.mark_found(delivery.id, at, remote_id=found.remote_id, remote_url=found.url)
            logs.event("found-posted", **fields, url=found.url or found.remote_id)
            settled_as(delivery, DeliveryOutcome.SENT, found=True)
        else:
            storage.requeue(delivery.id, at, detail="interrupted; not on the network, sent again")
            logs.event("requeued", **fields)
        settled += 1
    return settled


def _failed_alert(delivery: DueDelivery, error: str) -> Alert:
    return Alert(
        "delivery-failed",
        f"not posted on {delivery.account}: {delivery.item.title[:60]}",
        f"autoposter gave up posting this item on {delivery.account}:\n"
        f"  {delivery.item.title}\n  {delivery.item.link}\n\nThe network said: {error}\n\n"
        f"When the cause is fixed: autoposter retry {delivery.id}",
    )


def _unknown_alert(delivery: DueDelivery, error: str) -> Alert:
    return Alert(
        "delivery-unknown",
        f"perhaps posted on {delivery.account}: {delivery.item.title[:60]}",
        f"autoposter cannot tell whether this item was posted on {delivery.account}:\n"
        f"  {delivery.item.title}\n  {delivery.item.link}\n\n{error}\n\n"
        f"Look at the account, then either `autoposter skip {delivery.id}` (it is there) "
        f"or `autoposter retry {delivery.id}` (it is not).",
    )
