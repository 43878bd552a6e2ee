"""Operator decisions: on deliveries (approve, reject, retry, skip) and on accounts
(pause, resume)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Protocol

from autoposter import logs
from autoposter.app._common import (
    _now,
    _require_account,
    _require_feed,
)
from autoposter.config import Config
from autoposter.storage import (
    Storage,
)
from autoposter.types import (
    DeliveryState,
)

# --- decisions on deliveries --------------------------------------------------------------


class Decision(enum.StrEnum):
    """An operator's decision on deliveries."""

    APPROVE = "approve"
    REJECT = "reject"
    RETRY = "retry"
    SKIP = "skip"


APPLIES_TO: Mapping[Decision, tuple[DeliveryState, ...]] = MappingProxyType(
    {
        Decision.APPROVE: (DeliveryState.HELD,),
        Decision.REJECT: (DeliveryState.HELD,),
        Decision.RETRY: (DeliveryState.FAILED, DeliveryState.UNKNOWN),
        Decision.SKIP: (
            DeliveryState.PENDING,
            DeliveryState.HELD,
            DeliveryState.FAILED,
            DeliveryState.UNKNOWN,
        ),
    }
)
"""The states of the deliveries each decision acts on: what a selection without ids
(``--all``, ``--item``, ``--feed``) picks."""


@dataclass(frozen=True, slots=True)
class Selection:
    """Which deliveries a decision is about.

    With ``ids``: exactly those, each refused by name when the decision does not
    apply to it. Otherwise every delivery the decision applies to, narrowed to
    ``item`` (an item id), to ``feed``, and, with ``held_only``, to held ones;
    ``Selection()`` is all of them.
    """

    ids: tuple[int, ...] = ()
    item: int | None = None
    feed: str | None = None
    held_only: bool = False


@dataclass(frozen=True, slots=True)
class Decided:
    """One delivery's fate. ``state`` says why a refused one was left alone: the state
    it is in, or None when there is no such delivery."""

    delivery: int
    done: bool
    state: str | None = None


@dataclass(frozen=True, slots=True)
class Decisions:
    decided: tuple[Decided, ...]

    @property
    def ok(self) -> bool:
        """Every delivery named was acted on."""
        return all(d.done for d in self.decided)


class _Transition(Protocol):
    def __call__(self, storage: Storage, delivery_id: int, at: datetime, actor: str) -> bool: ...


def _selected(storage: Storage, decision: Decision, selection: Selection) -> list[int]:
    if selection.ids:
        return list(selection.ids)
    states = [s for s in APPLIES_TO[decision] if s is DeliveryState.HELD or not selection.held_only]
    return storage.delivery_ids(
        item_ids=None if selection.item is None else [selection.item],
        feed=selection.feed,
        states=states,
    )


def matching(config: Config, decision: Decision, selection: Selection) -> tuple[int, ...]:
    """The ids ``decision`` would act on for ``selection``, oldest first; changes nothing.

    For an interface to show a count and ask for a confirmation before a decision
    on many deliveries; it then decides on exactly these ids (one that changed state
    meanwhile is refused by name).
    """
    if selection.feed is not None:
        _require_feed(config, selection.feed)
    with Storage.open(config.database) as storage:
        return tuple(_selected(storage, decision, selection))


def _decide(
    config: Config,
    selection: Selection,
    decision: Decision,
    act: _Transition,
    actor: str,
) -> Decisions:
    if selection.feed is not None:
        _require_feed(config, selection.feed)
    decided: list[Decided] = []
    with Storage.open(config.database) as storage:
        for delivery_id in _selected(storage, decision, selection):
            if act(storage, delivery_id, _now(), actor):
                decided.append(Decided(delivery_id, True))
                continue
            found = storage.delivery(delivery_id)
            decided.append(Decided(delivery_id, False, None if found is None else found.state))
    return Decisions(tuple(decided))


def approve(config: Config, selection: Selection, *, actor: str) -> Decisions:
    """Let held deliveries go out: they become pending."""
    return _decide(
        config,
        selection,
        Decision.APPROVE,
        lambda s, i, at, who: s.release(i, at, actor=who, approve=True),
        actor,
    )


def reject(config: Config, selection: Selection, *, actor: str) -> Decisions:
    """Drop held deliveries for good: they become skipped."""
    return _decide(
        config,
        selection,
        Decision.REJECT,
        lambda s, i, at, who: s.release(i, at, actor=who, approve=False),
        actor,
    )


def retry(config: Config, selection: Selection, *, actor: str) -> Decisions:
    """Send failed or unknown deliveries again, with their same idempotency key."""
    return _decide(
        config,
        selection,
        Decision.RETRY,
        lambda s, i, at, who: s.retry(i, at, actor=who),
        actor,
    )


def skip(config: Config, selection: Selection, *, actor: str) -> Decisions:
    """Never send these deliveries (pending, held, failed or unknown ones)."""
    return _decide(
        config,
        selection,
        Decision.SKIP,
        lambda s, i, at, who: s.skip(i, at, actor=who),
        actor,
    )


# --- accounts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountChange:
    """``changed`` is False when the account already was as asked (paused, or not)."""

    account: str
    changed: bool


def pause_account(config: Config, name: str, *, reason: str, actor: str) -> AccountChange:
    """Stop posting on an account until it is resumed; its deliveries wait. The reason
    stored names the actor."""
    _require_account(config, name)
    with Storage.open(config.database) as storage:
        return AccountChange(name, storage.pause_account(name, f"{reason} ({actor})", _now()))


def resume_account(config: Config, name: str, *, actor: str) -> AccountChange:
    """Post again on a paused account, starting with what waited."""
    _require_account(config, name)
    with Storage.open(config.database) as storage:
        changed = storage.resume_account(name, _now())
    if changed:
        logs.event("account-resumed", account=name, reason=f"resumed by {actor}")
    return AccountChange(name, changed)
