"""The records storage reads and writes: frozen, with no behaviour beyond their contracts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from autoposter.types import DELIVERY_BIRTH_STATES, DeliveryState, Item

__all__ = [
    "AccountSummary",
    "DueDelivery",
    "EventRecord",
    "FeedState",
    "FeedSummary",
    "NewItem",
    "PlannedDelivery",
    "PostedRecord",
    "RecentDelivery",
    "SessionRecord",
    "StoredItem",
    "UserRecord",
]


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the last polls of a feed left behind, for the next conditional GET."""

    name: str
    url: str
    baseline_url: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    failures: int
    last_polled_at: datetime | None
    last_success_at: datetime | None


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """One account an item is routed to, and whether it waits for an operator."""

    account: str
    state: DeliveryState = DeliveryState.PENDING
    hold_reason: str | None = None
    urgent: bool = False

    def __post_init__(self) -> None:
        if self.state not in DELIVERY_BIRTH_STATES:
            raise ValueError(f"a delivery cannot start {self.state}")


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item a poll found new, with the deliveries it is routed to."""

    item: Item
    deliveries: tuple[PlannedDelivery, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item as stored; ``baseline``: seen on the first poll of its feed, never posted."""

    id: int
    feed: str
    item: Item
    baseline: bool
    first_seen_at: datetime


@dataclass(frozen=True, slots=True)
class PostedItem:
    """An item that reached (or is to reach) its accounts, as withdrawal checks need it:
    ``key`` and ``canonical_link`` as stored."""

    id: int
    key: str
    canonical_link: str
    link: str
    title: str
    published: datetime | None
    first_seen_at: datetime


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """One delivery with its item: what dispatch, reconciliation and the operator act on.

    ``text``: what a person wrote for it in the console, posted instead of the
    rendered text; None for the rendered one. ``item_id``: its item's row;
    ``next_attempt_at``: not before then (a retry, quiet hours, pacing), None when due
    as soon as it may go. ``remote_url``: the post's address once sent, when the network
    gives one.
    """

    id: int
    account: str
    feed: str
    idempotency_key: str
    attempts: int
    created_at: datetime
    item: Item
    urgent: bool = False
    state: str = DeliveryState.PENDING.value
    hold_reason: str | None = None
    last_error: str | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    sent_at: datetime | None = None
    retract_reason: str | None = None
    retract_requested_at: datetime | None = None
    item_id: int = 0
    # The text an editor wrote for this delivery in the web console, posted instead of
    # the rendered one; None when nobody edited it.
    text: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PostedRecord:
    """One line of the public record: what was posted where, when."""

    delivery: int
    sent_at: datetime
    account: str
    feed: str
    title: str
    link: str
    remote_id: str | None
    remote_url: str | None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One state change of a delivery in the audit trail; ``from_state`` None at creation."""

    delivery: int
    at: datetime
    account: str
    link: str
    from_state: str | None
    to_state: str
    actor: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class FeedSummary:
    """A feed's health and item count, for ``status``."""

    name: str
    url: str
    items: int
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    failures: int


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """An account's deliveries counted by state, for ``status``."""

    account: str
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class RecentDelivery:
    """A delivery that changed lately, for ``status``."""

    id: int
    account: str
    feed: str
    title: str
    link: str
    state: str
    remote_url: str | None
    last_error: str | None
    updated_at: datetime
    item_id: int | None = None


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A person who may use the web console; ``password_hash`` is Argon2id."""

    id: int
    name: str
    role: str
    password_hash: str
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A live session of the web console: whose, and its CSRF token."""

    user: str
    role: str
    csrf: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class KnownText:
    """A posted item's stored title and summary, as corrections at the source compare
    them with the feed's; ``key`` as stored."""

    id: int
    key: str
    link: str
    title: str
    summary: str


@dataclass(frozen=True, slots=True)
class DueEdit:
    """A sent post whose edit is due: the delivery, when the edit was decided (which
    every later move checks, so a newer correction is never marked done by an older
    call), its attempts so far, why, and the text of an interrupted attempt (None
    before the first)."""

    delivery: DueDelivery
    requested_at: datetime
    attempts: int
    reason: str
    text: str | None
    interrupted: bool
