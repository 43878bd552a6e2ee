"""The data autoposter passes between its stages.

Every value here is a frozen dataclass or an enum and depends on the
standard library only, so any module may import it.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import ClassVar, Protocol, TypeAlias

#: A block of IP addresses, as ``http.allow_networks`` names them.
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Image:
    """An image the feed attached to an item; ``alt`` is None when the feed gave none."""

    url: str
    alt: str | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """One normalized feed entry.

    ``key`` is stable across polls (the entry's id, else its canonical link,
    else a hash of title and link). ``link`` is absolute; ``title`` and
    ``summary`` are plain text with entities decoded and whitespace folded.
    Datetimes are timezone-aware UTC.
    """

    key: str
    link: str
    title: str
    summary: str = ""
    published: datetime | None = None
    updated: datetime | None = None
    language: str | None = None
    categories: tuple[str, ...] = ()
    image: Image | None = None
    author: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What a feed document says: its own metadata, its entries in document order, and
    the entries it says were deleted."""

    title: str
    link: str
    language: str | None
    items: tuple[Item, ...]
    # The ``ref`` (the entry's id) of each RFC 6721 tombstone: entries the site withdrew.
    withdrawn: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Fetched:
    """A feed body that was downloaded in full.

    ``headers`` keys are lower-case; ``url`` is the final URL after redirects.
    """

    url: str
    body: bytes
    headers: Mapping[str, str]
    etag: str | None
    last_modified: str | None
    body_hash: str


@dataclass(frozen=True, slots=True)
class NotModified:
    """The server answered 304 to a conditional GET."""

    url: str


class DeliveryState(enum.StrEnum):
    """Where one (item, account) delivery stands; ``DELIVERY_TRANSITIONS`` moves it."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    # A sent post to take back: decided and committed before any network call.
    RETRACTING = "retracting"
    REMOVING = "removing"  # a retraction's network call is under way
    RETRACTED = "retracted"  # deleted (or already gone, or marked withdrawn)
    RETRACT_FAILED = "retract_failed"  # the network cannot, or would not: an operator acts


class Transition(enum.StrEnum):
    """A named move of a delivery between states; ``DELIVERY_TRANSITIONS`` says which."""

    CLAIM = "claim"  # dispatch takes a due delivery before the network call
    CONFIRM = "confirm"  # the network answered with the post
    FAIL = "fail"  # a permanent error, during the attempt or before it
    BACK_OFF = "back_off"  # a retryable error: pending again, due later
    FIND = "find"  # a lookup says the post exists after all
    DOUBT = "doubt"  # perhaps posted, and the network cannot tell
    REQUEUE = "requeue"  # an interrupted post does not exist, or its account was paused
    RETRY = "retry"  # an operator tries a failed or unknown delivery again
    SKIP = "skip"  # an operator decides it will never be sent
    APPROVE = "approve"  # an operator lets a held delivery go
    REJECT = "reject"  # an operator drops a held delivery
    RETRACT = "retract"  # a sent post is to be deleted (again, after a failure)
    WITHDRAW = "withdraw"  # a delivery not sent is never to be sent: its item was retracted
    CLAIM_REMOVAL = "claim_removal"  # dispatch takes a retraction before the network call
    REMOVE = "remove"  # the network says the post is gone (deleted now, or before)
    DELAY_REMOVAL = "delay_removal"  # a retryable error: the retraction is due later
    RESUME_REMOVAL = "resume_removal"  # interrupted (a crash, a paused account): due again
    FAIL_REMOVAL = "fail_removal"  # the network cannot delete it, or gave up


@dataclass(frozen=True, slots=True)
class Move:
    """Where a transition may start from, and where it leads."""

    sources: frozenset[DeliveryState]
    target: DeliveryState


_S = DeliveryState

#: The delivery state machine: storage moves a delivery only along these edges, and
#: refuses (returns False) when the delivery is in none of the transition's sources.
DELIVERY_TRANSITIONS: Mapping[Transition, Move] = MappingProxyType(
    {
        Transition.CLAIM: Move(frozenset({_S.PENDING}), _S.SENDING),
        Transition.CONFIRM: Move(frozenset({_S.SENDING}), _S.SENT),
        Transition.FAIL: Move(frozenset({_S.SENDING, _S.PENDING}), _S.FAILED),
        Transition.BACK_OFF: Move(frozenset({_S.SENDING}), _S.PENDING),
        Transition.FIND: Move(frozenset({_S.SENDING, _S.PENDING, _S.UNKNOWN}), _S.SENT),
        Transition.DOUBT: Move(frozenset({_S.SENDING, _S.PENDING}), _S.UNKNOWN),
        Transition.REQUEUE: Move(frozenset({_S.SENDING}), _S.PENDING),
        Transition.RETRY: Move(frozenset({_S.FAILED, _S.UNKNOWN}), _S.PENDING),
        Transition.SKIP: Move(frozenset({_S.PENDING, _S.HELD, _S.FAILED, _S.UNKNOWN}), _S.SKIPPED),
        Transition.APPROVE: Move(frozenset({_S.HELD}), _S.PENDING),
        Transition.REJECT: Move(frozenset({_S.HELD}), _S.SKIPPED),
        Transition.RETRACT: Move(frozenset({_S.SENT, _S.RETRACT_FAILED}), _S.RETRACTING),
        Transition.WITHDRAW: Move(
            frozenset({_S.PENDING, _S.HELD, _S.FAILED, _S.UNKNOWN}), _S.SKIPPED
        ),
        Transition.CLAIM_REMOVAL: Move(frozenset({_S.RETRACTING}), _S.REMOVING),
        Transition.REMOVE: Move(frozenset({_S.REMOVING}), _S.RETRACTED),
        Transition.DELAY_REMOVAL: Move(frozenset({_S.REMOVING}), _S.RETRACTING),
        # Deleting twice is harmless (a post already gone counts as done), so an
        # interrupted removal is simply due again.
        Transition.RESUME_REMOVAL: Move(frozenset({_S.REMOVING}), _S.RETRACTING),
        Transition.FAIL_REMOVAL: Move(frozenset({_S.RETRACTING, _S.REMOVING}), _S.RETRACT_FAILED),
    }
)

#: The states a delivery may be created in: held (approval, burst guard) instead of pending.
DELIVERY_BIRTH_STATES: frozenset[DeliveryState] = frozenset({_S.PENDING, _S.HELD})


class PollStatus(enum.StrEnum):
    """What one poll of one feed came to."""

    NEW = "new"  # items stored (perhaps none new), with their deliveries
    BASELINE = "baseline"  # a feed's first poll, or its new URL's: stored, never posted
    UNCHANGED = "unchanged"  # same body as last time
    NOT_MODIFIED = "not-modified"  # the server answered 304
    BACKOFF = "backoff"  # not polled: a failing feed waits out its backoff
    ERROR = "error"  # fetching or parsing failed


class DeliveryOutcome(enum.StrEnum):
    """What one attempt at one delivery came to."""

    SENT = "sent"  # posted now, or found already posted by an earlier attempt
    RETRY = "retry"  # a retryable failure: tried again later
    PAUSED = "paused"  # the account was paused (credentials refused, budget reached)
    UNKNOWN = "unknown"  # cannot tell whether it was posted: an operator decides
    FAILED = "failed"  # given up
    CLAIMED = "claimed"  # another dispatcher took it first; nothing done here


@dataclass(frozen=True, slots=True)
class Attempt:
    """What dispatch (or reconciliation) did with one delivery.

    ``found``: sent because an earlier attempt's post was found on the network.
    ``seconds``: for a post made by this attempt, from rendering to the network's answer.
    """

    delivery: int
    account: str
    outcome: DeliveryOutcome
    found: bool = False
    seconds: float | None = None


class Removal(enum.StrEnum):
    """What a publisher's ``delete`` did with a post."""

    DELETED = "deleted"  # deleted by this call
    GONE = "gone"  # already gone (an earlier attempt, or a person, deleted it)
    WITHDRAWN = "withdrawn"  # cannot be deleted any more; its text now says it was withdrawn


class RetractOutcome(enum.StrEnum):
    """What one attempt at one retraction came to."""

    DELETED = "deleted"
    GONE = "gone"
    WITHDRAWN = "withdrawn"
    RETRY = "retry"  # a retryable failure: tried again later
    PAUSED = "paused"  # the account was paused; the retraction waits for it
    FAILED = "failed"  # the network cannot, or gave up: an operator is told
    CLAIMED = "claimed"  # another process took it first


class EditOutcome(enum.StrEnum):
    """What one attempt at one edit of a sent post came to."""

    EDITED = "edited"
    RETRY = "retry"  # a retryable failure: tried again later
    PAUSED = "paused"  # the account was paused; the edit waits for it
    CANNOT = "cannot"  # the network cannot edit (or the text was written by hand): alerted
    FAILED = "failed"  # given up: an operator is told
    CLAIMED = "claimed"  # another process took it first, or a newer correction replaced it


@dataclass(frozen=True, slots=True)
class SentPost:
    """A post autoposter made, as ``delete`` needs it: the network's id and URL, the
    delivery's key, when it went out, and the item it carried (for the networks whose
    retraction is a message: a webhook's event, Telegram's notice past 48 hours)."""

    account: str
    remote_id: str
    url: str | None
    key: str
    sent_at: datetime | None
    link: str
    title: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PostSpec:
    """How one feed wants its items written for one account."""

    feed: str
    account: str
    template: str
    language: str
    hashtags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Post:
    """A post ready to send: everything a publisher needs, nothing it must compute."""

    account: str
    text: str
    link: str
    language: str
    title: str = ""
    summary: str = ""
    image: Image | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the network answered: its id for the post and, when known, its public URL."""

    remote_id: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What ``check`` learned about an account: who we are there and what it allows."""

    name: str
    details: Mapping[str, str] = field(default_factory=dict)


class AccountStore(Protocol):
    """One account's small key-value store of opaque text (``storage.AccountState``)."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str | None) -> None: ...


class Writer(Protocol):
    """The pure half of a publisher: writes items as posts for one account, with no
    network, no SDK and no secret (previews, the queue, the web console)."""

    def render(self, item: Item, spec: PostSpec) -> Post: ...


class Publisher(Protocol):
    """One social account. Implementations live one per file in ``autoposter.publishers``.

    ``render`` is pure. ``publish`` makes exactly one post and raises
    ``PublishError`` (or a subclass) on failure. ``find`` answers whether the
    post made with ``key`` already exists, None when it does not or cannot tell.

    Capabilities (``publishers._base.Capabilities`` holds their defaults, which
    the registry gives a plugin class that does not declare them):
    ``can_find`` says whether ``find`` can tell at all (a Telegram bot cannot
    read its channel); ``attach_state`` hands over the account's stored state
    before the first call, ``attach_networks`` the non-public networks
    (``http.allow_networks``) that downloads of URLs from content may reach;
    ``writer_type`` is the class of the pure half, built from the same options
    minus the secrets, or None; ``can_delete`` says whether ``delete`` can take a
    post back, which it does idempotently: a post already gone is ``Removal.GONE``,
    a failure raises ``PublishError``; ``can_edit`` says whether ``edit`` can replace a
    post's text, which it does idempotently (sending the same text twice is harmless).
    """

    kind: ClassVar[str]
    can_find: ClassVar[bool]
    can_delete: ClassVar[bool]
    can_edit: ClassVar[bool]
    writer_type: ClassVar[type[Writer] | None]

    def attach_state(self, state: AccountStore) -> None: ...

    def attach_networks(self, networks: tuple[Network, ...]) -> None: ...

    def render(self, item: Item, spec: PostSpec) -> Post: ...

    def publish(self, post: Post, *, key: str) -> Receipt: ...

    def find(self, post: Post, *, key: str) -> Receipt | None: ...

    def check(self) -> AccountInfo: ...

    def delete(self, sent: SentPost) -> Removal: ...

    def edit(self, sent: SentPost, text: str) -> None: ...

    def close(self) -> None: ...
