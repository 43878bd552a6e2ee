"""Operations that post: one cycle, post now, backfill."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from autoposter.app._common import (
    RenderedPost,
    _now,
    _require_account,
    _require_feed,
    _writer_render,
)
from autoposter.config import Config
from autoposter.errors import NotRoutedError
from autoposter.pipeline import (
    APPROVAL_REQUIRED,
    DispatchResult,
    Pacing,
    PollResult,
    dispatch_due,
    needs_approval,
    spec_for,
    waiting_for,
)
from autoposter.policy import Wait
from autoposter.routing import accepts
from autoposter.storage import (
    NewItem,
    PlannedDelivery,
)
from autoposter.types import (
    DeliveryOutcome,
    DeliveryState,
    Item,
    Writer,
)

BACKFILL_BATCH = 20


# --- running ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cycle:
    """One cycle: every enabled feed polled once, then what was due sent."""

    polls: tuple[PollResult, ...]
    dispatch: DispatchResult


def run_cycle(config: Config, *, parse_workers: int = 2) -> Cycle:
    """Poll every enabled feed once, then send what is due (``run --once``, the demo).

    ``parse_workers`` 0 parses in this process (the bundled demo's trusted files).
    """
    from autoposter.runtime import Runtime

    runtime = Runtime.start(config, parse_workers=parse_workers)
    try:
        polls = runtime.poll_all()
        return Cycle(tuple(polls), runtime.dispatch())
    finally:
        runtime.close()


# --- posting ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostRequest:
    """Something to post now on ``feed``'s accounts (or only ``accounts``), written with
    the feed's template. ``urgent`` posts are not held by quiet hours, blackouts or pacing."""

    feed: str
    title: str
    link: str
    summary: str = ""
    accounts: tuple[str, ...] = ()
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class PostOutcome:
    """What became of one account's delivery of a post made now.

    ``state``: the delivery's state after the attempt. ``url``: the post's address when
    sent. ``wait``: why it waits when not sent (approval, a paused account, pacing, a
    retry after ``error``). ``error``: what the network said when this attempt failed.
    """

    delivery: int
    account: str
    state: str
    url: str | None = None
    wait: Wait | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Sent, or waiting by a rule (not because of an error)."""
        return self.error is None and (
            self.state == DeliveryState.SENT.value or self.wait is not None
        )


@dataclass(frozen=True, slots=True)
class Posted:
    """The item stored, and each account's outcome; ``waiting`` ones the daemon sends."""

    item: int
    outcomes: tuple[PostOutcome, ...] = ()

    @property
    def sent(self) -> int:
        return sum(1 for o in self.outcomes if o.state == DeliveryState.SENT.value)

    @property
    def waiting(self) -> int:
        return sum(1 for o in self.outcomes if o.state != DeliveryState.SENT.value and o.ok)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if not o.ok)

    @property
    def ok(self) -> bool:
        """Everything was sent or waits by a rule; nothing failed."""
        return all(o.ok for o in self.outcomes)


def post_now(config: Config, request: PostRequest, *, actor: str) -> Posted:
    """Store a new item on the feed and send its deliveries now.

    Where the feed or the account requires approval, they are held, as a poll holds
    them. Raises NotFoundError for an unknown feed or account.
    """
    import uuid

    _require_feed(config, request.feed)
    targets = list(request.accounts) or list(config.feeds[request.feed].accounts)
    for name in targets:
        _require_account(config, name)
    feed = config.feeds[request.feed]
    item = Item(
        key=f"manual:{uuid.uuid4().hex}",
        link=request.link,
        title=request.title,
        summary=request.summary,
        published=_now(),
        language=feed.language,
    )
    from autoposter.runtime import Runtime

    runtime = Runtime.start(config, parse_workers=0)
    try:
        planned = tuple(
            PlannedDelivery(a, DeliveryState.HELD, APPROVAL_REQUIRED, urgent=request.urgent)
            if needs_approval(config, feed, a)
            else PlannedDelivery(a, urgent=request.urgent)
            for a in targets
        )
        (item_id,) = runtime.storage.add_items(
            request.feed, feed.url, runtime.now(), [NewItem(item, planned)], actor=actor
        )
        ids = runtime.storage.delivery_ids(item_ids=[item_id])
        result = dispatch_due(
            config=config,
            storage=runtime.storage,
            publishers=runtime.publishers,
            alerts=runtime.alerts,
            now=runtime.now,
            ids=ids,
        )
        failed = {
            a.delivery
            for a in result.attempts
            if a.outcome
            in (
                DeliveryOutcome.FAILED,
                DeliveryOutcome.UNKNOWN,
                DeliveryOutcome.RETRY,
                DeliveryOutcome.PAUSED,
            )
        }
        paused = runtime.storage.paused_accounts()
        pacing = Pacing(config, runtime.storage)
        at = runtime.now()
        outcomes = []
        for delivery_id in ids:
            found = runtime.storage.delivery(delivery_id)
            if found is None:  # removed meanwhile by retention: nothing to say about it
                continue
            waits = found.state in (DeliveryState.PENDING.value, DeliveryState.HELD.value)
            outcomes.append(
                PostOutcome(
                    delivery_id,
                    found.account,
                    found.state,
                    url=found.remote_url,
                    wait=waiting_for(found, config, pacing, paused, at) if waits else None,
                    error=(found.last_error or "error") if delivery_id in failed else None,
                )
            )
    finally:
        runtime.close()
    return Posted(item_id, tuple(outcomes))


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    """Older items of ``feed`` to post on purpose, the baseline's included: those
    published ``since`` (UTC), at most ``limit`` (the newest), to ``accounts`` (some of
    the feed's own; default: all of them). ``dry_run`` renders them and posts nothing."""

    feed: str
    since: datetime | None = None
    limit: int | None = None
    accounts: tuple[str, ...] = ()
    dry_run: bool = False


class BackfillProgress(Protocol):
    """Told how a backfill goes, for an interface to show it while it runs."""

    def queued(self, created: int, already: int) -> None:
        """``created`` deliveries were queued to be sent now; ``already`` were queued or
        sent before. The ones held for approval are in neither."""

    def sent_one(self) -> None:
        """One more delivery was attempted."""

    def batch_failed(self, failed: int) -> None:
        """In the batch just attempted, ``failed`` deliveries failed."""


@dataclass(frozen=True, slots=True)
class BackfillResult:
    """``items``: the stored items that matched, oldest first. ``rendered``: with a dry
    run, each item's posts; otherwise empty. ``held``: of the ``created`` deliveries,
    those that wait for approval (``autoposter approve``); the others were attempted."""

    feed: str
    items: tuple[Item, ...]
    accounts: tuple[str, ...]
    rendered: tuple[tuple[Item, RenderedPost], ...] = ()
    created: int = 0
    sent: int = 0
    failed: int = 0
    held: int = 0


def backfill(
    config: Config,
    request: BackfillRequest,
    *,
    actor: str,
    progress: BackfillProgress | None = None,
) -> BackfillResult:
    """Queue older items for the accounts and send them, in batches of BACKFILL_BATCH.

    An item already delivered to an account is never posted there again (the
    storage refuses a second delivery of one item to one account). A feed never
    polled is polled first, so that its items are known. Where the feed or the
    account requires approval, the deliveries are held, as a poll holds them.
    Raises NotFoundError for an unknown feed or account, NotRoutedError for an
    account the feed does not post to.
    """
    _require_feed(config, request.feed)
    feed = config.feeds[request.feed]
    targets = tuple(request.accounts) or tuple(feed.accounts)
    for account in targets:
        _require_account(config, account)
        if account not in feed.accounts:
            raise NotRoutedError(request.feed, account, tuple(feed.accounts))
    from autoposter.runtime import Runtime

    runtime = Runtime.start(config, parse_workers=0)
    try:
        if runtime.storage.feed_state(request.feed) is None:
            runtime.poll(request.feed, force=True)
        stored = runtime.storage.items_for_backfill(
            request.feed, since=request.since, limit=request.limit
        )
        stored = [s for s in reversed(stored) if accepts(feed, s.item)]
        items = tuple(s.item for s in stored)
        if not stored or request.dry_run:
            return BackfillResult(
                request.feed,
                items,
                targets,
                rendered=_render_all(config, request.feed, items, targets)
                if request.dry_run
                else (),
            )
        created: list[int] = []
        held = 0
        for account in targets:
            planned = PlannedDelivery(account)
            if needs_approval(config, feed, account):
                planned = PlannedDelivery(account, DeliveryState.HELD, APPROVAL_REQUIRED)
            queued = runtime.storage.create_deliveries(
                [s.id for s in stored], planned, runtime.now(), actor=actor
            )
            if planned.state is DeliveryState.HELD:
                held += len(queued)
            else:
                created += queued
        if progress is not None:
            already = len(stored) * len(targets) - len(created) - held
            progress.queued(len(created), already)
        sent = failed = 0
        for start in range(0, len(created), BACKFILL_BATCH):
            result = dispatch_due(
                config=config,
                storage=runtime.storage,
                publishers=runtime.publishers,
                ids=created[start : start + BACKFILL_BATCH],
                on_done=None if progress is None else lambda _d, _o: progress.sent_one(),
            )
            sent += result.sent
            failed += result.failed
            if result.failed and progress is not None:
                progress.batch_failed(result.failed)
        return BackfillResult(
            request.feed,
            items,
            targets,
            created=len(created) + held,
            sent=sent,
            failed=failed,
            held=held,
        )
    finally:
        runtime.close()


def _render_all(
    config: Config, feed: str, items: Sequence[Item], accounts: Sequence[str]
) -> tuple[tuple[Item, RenderedPost], ...]:
    writers: dict[str, Writer] = {}
    return tuple(
        (
            item,
            RenderedPost(
                account,
                _writer_render(
                    config, account, item, spec_for(config, feed, account, item), writers
                ),
            ),
        )
        for item in items
        for account in accounts
    )
