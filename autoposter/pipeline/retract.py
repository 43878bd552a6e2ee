"""Retractions: each post an operator (or its feed) took back, deleted exactly once.

At each pass: settle the decisions (a post sent meanwhile becomes
``retracting``, one never sent is skipped) -> removals a dead process left
in ``removing`` are due again -> for each due retraction of an unpaused
account, oldest decision first: claim it (``removing``, committed before the
network call) -> ``delete`` -> ``retracted`` (deleted, already gone, or
marked withdrawn) | ``retracting`` again later, with backoff |
``retract_failed``.

Deleting is idempotent on every network (a post already gone is an answer,
not an error), so a removal interrupted by a crash is simply done again:
the next attempt finds the post gone, or deletes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from autoposter import logs
from autoposter.alerts import Alert, LogOnly, Notifier
from autoposter.config import Config
from autoposter.errors import AuthError, PublishError
from autoposter.pipeline.common import Clock, utcnow
from autoposter.pipeline.dispatch import Backoff, _scrubbed
from autoposter.storage import DueDelivery, Storage
from autoposter.types import DeliveryState, Publisher, Removal, RetractOutcome, SentPost

_NO_ALERTS = LogOnly()
_BACKOFF = Backoff()
# Receipts that name no post: a duplicate the network refused without saying which.
_NO_ID = frozenset({"", "duplicate"})


@dataclass(frozen=True, slots=True)
class Retraction:
    """What one attempt at one retraction came to; ``error`` says why it could not."""

    delivery: int
    account: str
    outcome: RetractOutcome
    error: str | None = None


@dataclass(slots=True)
class RetractResult:
    """Each attempt of one pass, in order."""

    attempts: list[Retraction] = field(default_factory=list)

    def count(self, *outcomes: RetractOutcome) -> int:
        return sum(1 for a in self.attempts if a.outcome in outcomes)


def retract_due(
    *,
    config: Config,
    storage: Storage,
    publishers: Mapping[str, Publisher],
    alerts: Notifier = _NO_ALERTS,
    now: Clock = utcnow,
    backoff: Backoff = _BACKOFF,
    limit: int = 100,
    ids: list[int] | None = None,
) -> RetractResult:
    """Carry out the retractions that are due, one delivery at a time."""
    result = RetractResult()
    storage.settle_retractions(now())
    stale = now() - timedelta(seconds=config.reconcile_after)
    for delivery in storage.deliveries_in(DeliveryState.REMOVING, updated_before=stale):
        # Its process died during the call: deleting again is safe.
        storage.resume_removal(delivery.id, now(), detail="interrupted; deleted again")
        logs.event("retract-resumed", account=delivery.account, delivery=delivery.id)
    paused = storage.paused_accounts()
    usable = [name for name in publishers if name not in paused]
    stopped: set[str] = set()  # accounts whose network failed in this pass
    for delivery in storage.due_retractions(now(), limit=limit, ids=ids, accounts=usable):
        if delivery.account in stopped:
            continue
        attempt = _retract(
            delivery, publishers[delivery.account], config, storage, alerts, now, backoff
        )
        if attempt.outcome in (RetractOutcome.RETRY, RetractOutcome.PAUSED):
            stopped.add(delivery.account)
        result.attempts.append(attempt)
    return result


def _retract(
    delivery: DueDelivery,
    publisher: Publisher,
    config: Config,
    storage: Storage,
    alerts: Notifier,
    now: Clock,
    backoff: Backoff,
) -> Retraction:
    fields: dict[str, Any] = {"account": delivery.account, "delivery": delivery.id}

    def failed(error: str) -> Retraction:
        storage.fail_removal(delivery.id, now(), error=error)
        logs.event("retract-failed", level=logging.ERROR, **fields, error=error)
        alerts.notify(_failed_alert(delivery, error))
        return Retraction(delivery.id, delivery.account, RetractOutcome.FAILED, error)

    remote_id = delivery.remote_id or ""
    if not publisher.can_delete:
        return failed("this network cannot delete posts; delete it by hand")
    if remote_id in _NO_ID:
        return failed("the network never said which post it was; delete it by hand")
    if not storage.claim_removal(delivery.id, now(), attempts=delivery.attempts):
        return Retraction(delivery.id, delivery.account, RetractOutcome.CLAIMED)
    sent = SentPost(
        account=delivery.account,
        remote_id=remote_id,
        url=delivery.remote_url,
        key=delivery.idempotency_key,
        sent_at=delivery.sent_at,
        link=delivery.item.link,
        title=delivery.item.title,
        reason=delivery.retract_reason or "",
    )
    try:
        removal = publisher.delete(sent)
    except PublishError as e:
        return _after_error(delivery, _scrubbed(e, config), config, storage, alerts, now, backoff)
    except Exception as e:
        logs.log.exception(
            "publisher-crashed account=%s delivery=%s", delivery.account, delivery.id
        )
        return failed(f"unexpected error in the publisher: {type(e).__name__}: {e}")
    storage.mark_removed(delivery.id, now(), removal=removal)
    logs.event("retracted", **fields, removal=removal.value, url=delivery.remote_url or remote_id)
    outcome = {
        Removal.DELETED: RetractOutcome.DELETED,
        Removal.GONE: RetractOutcome.GONE,
        Removal.WITHDRAWN: RetractOutcome.WITHDRAWN,
    }[removal]
    return Retraction(delivery.id, delivery.account, outcome)


def _after_error(
    delivery: DueDelivery,
    error: PublishError,
    config: Config,
    storage: Storage,
    alerts: Notifier,
    now: Clock,
    backoff: Backoff,
) -> Retraction:
    at = now()
    attempts = delivery.attempts + 1
    policy = config.policy(delivery.account)
    fields: dict[str, Any] = {
        "account": delivery.account,
        "delivery": delivery.id,
        "attempt": attempts,
        "error": error.message,
    }
    if isinstance(error, AuthError):
        # The retraction waits in ``retracting`` for the account, like its posts do.
        storage.resume_removal(delivery.id, at, detail=f"account paused: {error.message}")
        if storage.pause_account(delivery.account, error.message, at):
            logs.event("account-paused", level=logging.ERROR, **fields)
            alerts.notify(
                Alert(
                    "account-paused",
                    f"account {delivery.account} paused: {error.message}",
                    f"The network refused the credentials of account {delivery.account}:\n"
                    f"  {error.message}\n\nIts retractions wait. Fix the credentials and "
                    f"reload, or run: autoposter account resume {delivery.account}",
                )
            )
        return Retraction(delivery.id, delivery.account, RetractOutcome.PAUSED, error.message)
    decided = delivery.retract_requested_at or delivery.created_at
    next_at = at + timedelta(seconds=backoff.delay(policy.retry_delay, attempts, error.retry_after))
    too_late = next_at - decided > timedelta(seconds=policy.give_up_after)
    if error.retryable and attempts < policy.max_attempts and not too_late:
        storage.delay_removal(delivery.id, at, error=error.message, next_attempt_at=next_at)
        logs.event("retract-retry", level=logging.WARNING, **fields)
        return Retraction(delivery.id, delivery.account, RetractOutcome.RETRY, error.message)
    storage.fail_removal(delivery.id, at, error=error.message)
    logs.event("retract-failed", level=logging.ERROR, **fields)
    alerts.notify(_failed_alert(delivery, error.message))
    return Retraction(delivery.id, delivery.account, RetractOutcome.FAILED, error.message)


def _failed_alert(delivery: DueDelivery, error: str) -> Alert:
    return Alert(
        "retract-failed",
        f"not retracted on {delivery.account}: {delivery.item.title[:60]}",
        f"autoposter could not take this post back on {delivery.account}:\n"
        f"  {delivery.item.title}\n  {delivery.remote_url or delivery.remote_id}\n\n"
        f"{error}\n\nDelete it by hand, or when the cause is fixed: "
        f"autoposter retract {delivery.item.link} --account {delivery.account}",
    )
