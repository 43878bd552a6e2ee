"""Taking back what was posted: ``retract`` an item from every network it reached."""

from __future__ import annotations

from dataclasses import dataclass

from autoposter.app._common import _now, _require_account
from autoposter.config import Config
from autoposter.pipeline import retract_due
from autoposter.runtime import Runtime
from autoposter.storage import Storage
from autoposter.types import DeliveryState


@dataclass(frozen=True, slots=True)
class RetractRequest:
    """Items to take back (each an item id or its link), on ``accounts`` (default: every
    account they reached), for ``reason``. ``carry_out``: delete them now with this
    process's credentials (the CLI, as ``post`` does); otherwise only record the
    decision, for the daemon to carry out (the web console holds no token)."""

    items: tuple[str, ...]
    accounts: tuple[str, ...] = ()
    reason: str = ""
    carry_out: bool = True


@dataclass(frozen=True, slots=True)
class RetractedCopy:
    """One delivery of a retracted item. ``outcome``: deleted, gone (already), withdrawn
    (past the network's limit, its text says so), skipped (never sent, now never will be),
    waiting (the daemon will do it: later, or when its account is resumed), failed;
    ``error`` says why it could not."""

    item: int
    account: str
    delivery: int
    outcome: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RetractReport:
    """``missing``: the references that name no stored item."""

    copies: tuple[RetractedCopy, ...]
    missing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing and all(c.outcome != "failed" for c in self.copies)


def retract(config: Config, request: RetractRequest, *, actor: str) -> RetractReport:
    """Record the retraction of each item's copies (audited with ``actor`` and the reason),
    skip its deliveries not yet sent, and, with ``carry_out``, delete its posts now.

    A retraction is durable work: what cannot be done now (a network down, an account
    paused) stays ``retracting`` and the daemon finishes it.
    """
    for name in request.accounts:
        _require_account(config, name)
    accounts = list(request.accounts) or None
    with Storage.open(config.database) as storage:
        found = {ref: storage.item_ids_for(ref) for ref in request.items}
        item_ids = sorted({i for ids in found.values() for i in ids})
        missing = tuple(ref for ref, ids in found.items() if not ids)
        ids = storage.request_retraction(
            item_ids, _now(), actor=actor, reason=request.reason, accounts=accounts
        )
    outcomes: dict[int, tuple[str, str | None]] = {}
    if request.carry_out and ids:
        runtime = Runtime.start(config, parse_workers=0)
        try:
            result = retract_due(
                config=config,
                storage=runtime.storage,
                publishers=runtime.publishers,
                alerts=runtime.alerts,
                now=runtime.now,
                ids=ids,
                limit=len(ids),
            )
        finally:
            runtime.close()
        outcomes = {a.delivery: (a.outcome.value, a.error) for a in result.attempts}
    copies: list[RetractedCopy] = []
    with Storage.open(config.database) as storage:
        for item_id in item_ids:
            for delivery_id in storage.delivery_ids(item_ids=[item_id]):
                if delivery_id in ids:
                    copy = _copy(storage, item_id, delivery_id, outcomes)
                    copies += [copy] if copy is not None else []
    return RetractReport(tuple(copies), missing)


def _copy(
    storage: Storage,
    item_id: int,
    delivery_id: int,
    outcomes: dict[int, tuple[str, str | None]],
) -> RetractedCopy | None:
    delivery = storage.delivery(delivery_id)
    if delivery is None:
        return None
    outcome, error = outcomes.get(delivery_id, ("", None))
    state = delivery.state
    if state == DeliveryState.SKIPPED.value:
        outcome = "skipped"
    elif state == DeliveryState.RETRACT_FAILED.value:
        outcome, error = "failed", delivery.last_error
    elif state == DeliveryState.RETRACTED.value:
        outcome = outcome if outcome in ("deleted", "gone", "withdrawn") else "retracted"
    else:
        outcome, error = "waiting", delivery.last_error
    return RetractedCopy(item_id, delivery.account, delivery_id, outcome, error)
