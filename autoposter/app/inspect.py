"""Operations that look and change nothing: status, queue, preview, export."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from autoposter.app._common import (
    RenderedPost,
    _now,
    _writer_render,
)
from autoposter.app.checks import probe_feed
from autoposter.config import Config
from autoposter.i18n import gettext as _
from autoposter.pipeline import Pacing, oldest_first, spec_for, waiting_for
from autoposter.policy import Wait, WaitReason
from autoposter.routing import accepts
from autoposter.storage import (
    AccountSummary,
    DueDelivery,
    EventRecord,
    FeedSummary,
    PostedRecord,
    RecentDelivery,
    Storage,
)
from autoposter.types import (
    DeliveryState,
    Item,
    Writer,
)


@dataclass(frozen=True, slots=True)
class Waiting:
    """A delivery not sent yet, and why it waits (None: it goes at the daemon's next pass)."""

    delivery: DueDelivery
    wait: Wait | None


@dataclass(frozen=True, slots=True)
class Status:
    """A snapshot: feeds, accounts' counts per state, the latest deliveries, and what
    waits for a person and why (held and unknown deliveries, paused accounts).

    ``waiting``: the pending and held deliveries, oldest first, each with why it waits,
    by the rules dispatch applies at ``at``.
    """

    feeds: tuple[FeedSummary, ...]
    accounts: tuple[AccountSummary, ...]
    recent: tuple[RecentDelivery, ...]
    held: tuple[RecentDelivery, ...]
    unknown: tuple[RecentDelivery, ...]
    paused: Mapping[str, str]
    waiting: tuple[Waiting, ...] = ()
    at: datetime | None = None


def status(config: Config, *, last: int = 10) -> Status:
    """The present state, read from the database; ``last`` latest deliveries."""
    at = _now()
    with Storage.open(config.database) as storage:
        paused = storage.paused_accounts()
        waiting = waiting_now(config, storage, paused, at)
        return Status(
            feeds=tuple(storage.feed_summaries()),
            accounts=tuple(storage.account_summaries()),
            recent=tuple(storage.recent_deliveries(last)),
            held=tuple(storage.recent_deliveries(1000, state=DeliveryState.HELD.value)),
            unknown=tuple(storage.recent_deliveries(1000, state=DeliveryState.UNKNOWN.value)),
            paused=paused,
            waiting=waiting,
            at=at,
        )


def waiting_now(
    config: Config, storage: Storage, paused: Mapping[str, str], at: datetime
) -> tuple[Waiting, ...]:
    """The pending and held deliveries, oldest first, each with why it waits at ``at``,
    by the rules dispatch applies."""
    pacing = Pacing(config, storage)
    return tuple(
        Waiting(d, waiting_for(d, config, pacing, paused, at))
        for state in (DeliveryState.PENDING, DeliveryState.HELD)
        for d in storage.deliveries_in(state)
    )


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One delivery waiting for a decision, and the text it would post.

    ``text`` is None when the account is no longer in the configuration.
    """

    delivery: DueDelivery
    text: str | None


@dataclass(frozen=True, slots=True)
class QueueListing:
    paused: Mapping[str, str]
    entries: tuple[QueueEntry, ...]


def queue(config: Config, states: Sequence[DeliveryState]) -> QueueListing:
    """Paused accounts, and the deliveries in ``states`` with the text each would post."""
    writers: dict[str, Writer] = {}
    entries: list[QueueEntry] = []
    with Storage.open(config.database) as storage:
        paused = storage.paused_accounts()
        for state in states:
            for delivery in storage.deliveries_in(state):
                entries.append(QueueEntry(delivery, _queued_text(config, delivery, writers)))
    return QueueListing(paused, tuple(entries))


def _queued_text(config: Config, delivery: DueDelivery, writers: dict[str, Writer]) -> str | None:
    if delivery.account not in config.accounts:
        return None
    spec = spec_for(config, delivery.feed, delivery.account, delivery.item)
    try:
        return _writer_render(config, delivery.account, delivery.item, spec, writers).text
    except ValueError as e:
        return f"(cannot render: {e})"


@dataclass(frozen=True, slots=True)
class PreviewEntry:
    """One item of a feed; ``posts`` is empty when include/exclude filters it out."""

    item: Item
    routed: bool
    posts: tuple[RenderedPost, ...]


@dataclass(frozen=True, slots=True)
class Preview:
    feed: str
    entries: tuple[PreviewEntry, ...]


def preview(config: Config, feed: str, *, limit: int = 3) -> Preview:
    """The feed's ``limit`` latest items as each of its accounts would receive them.
    Fetches the feed now; stores nothing."""
    probe = probe_feed(config, feed)
    feed_config = config.feeds[feed]
    latest = list(reversed(oldest_first(list(probe.items))))[:limit]
    writers: dict[str, Writer] = {}
    entries: list[PreviewEntry] = []
    for item in latest:
        if not accepts(feed_config, item):
            entries.append(PreviewEntry(item, False, ()))
            continue
        posts = tuple(
            RenderedPost(
                account,
                _writer_render(
                    config, account, item, spec_for(config, feed, account, item), writers
                ),
            )
            for account in feed_config.accounts
        )
        entries.append(PreviewEntry(item, True, posts))
    return Preview(feed, tuple(entries))


def export_posted(config: Config, *, since: datetime | None = None) -> tuple[PostedRecord, ...]:
    """The public record: what was posted where and when, oldest first."""
    with Storage.open(config.database) as storage:
        return tuple(storage.posted(since))


def export_events(config: Config, *, since: datetime | None = None) -> tuple[EventRecord, ...]:
    """The audit trail: every state change of every delivery, with who made it."""
    with Storage.open(config.database) as storage:
        return tuple(storage.events(since))


def describe_wait(config: Config, wait: Wait | None, now: datetime | None = None) -> str:
    """Why a delivery waits, in words for people: "quiet hours 22:00-07:00 until 07:00".

    The one wording of ``Wait`` that the CLI and the web console both show.
    """
    if wait is None:
        return _("due: goes out at the daemon's next pass")
    until = ""
    if wait.until is not None:
        local = wait.until.astimezone(config.tz())
        today = (now or _now()).astimezone(config.tz()).date()
        until = f"{local:%H:%M}" if local.date() == today else f"{local:%Y-%m-%d %H:%M}"
    match wait.reason:
        case WaitReason.APPROVAL:
            detail = wait.detail or _("approval required")
            return _("waits for approval (%(detail)s)") % {"detail": detail}
        case WaitReason.PAUSED:
            return _("account paused: %(reason)s") % {"reason": wait.detail}
        case WaitReason.RETRY:
            return _("retrying at %(until)s after an error: %(error)s") % {
                "until": until,
                "error": wait.detail,
            }
        case WaitReason.QUIET_HOURS | WaitReason.BLACKOUT:
            return _("%(rule)s until %(until)s") % {"rule": wait.detail, "until": until}
        case WaitReason.PACING:
            return _("pacing until %(until)s") % {"until": until}
        case WaitReason.LATER:
            return _("not before %(until)s") % {"until": until}
