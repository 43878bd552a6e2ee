"""The data autoposter passes between its stages.

Every value here is a frozen dataclass or an enum and depends on the
standard library only, so any module may import it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol


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
    """What a feed document says: its own metadata and its entries, in document order."""

    title: str
    link: str
    language: str | None
    items: tuple[Item, ...]


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
    """Where one (item, account) delivery stands; see DESIGN.md for the transitions."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


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


class Publisher(Protocol):
    """One social account. Implementations live one per file in ``autoposter.publishers``.

    ``render`` is pure. ``publish`` makes exactly one post and raises
    ``PublishError`` (or a subclass) on failure. ``find`` answers whether the
    post made with ``key`` already exists, None when it does not or cannot tell.
    """

    kind: ClassVar[str]

    def render(self, item: Item, spec: PostSpec) -> Post: ...

    def publish(self, post: Post, *, key: str) -> Receipt: ...

    def find(self, post: Post, *, key: str) -> Receipt | None: ...

    def check(self) -> AccountInfo: ...

    def close(self) -> None: ...
