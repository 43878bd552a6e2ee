"""The operations every interface calls: the CLI today, the web console next.

One function per operator action. Each takes the configuration (and opens
the storage itself, or uses the daemon's ``Runtime``), takes an ``actor``
("cli:alice", "web:marie") when it changes something, records its audit
event through storage, and returns a frozen dataclass the interface prints
or renders. Interfaces never import storage, the pipeline, the fetcher or
the parser: they call these functions.

A new operator action is one function here returning one result type, and
a thin command (or page) over it that parses arguments and prints.
Expected failures are values in the results; a feed or account the
configuration does not have raises ``NotFoundError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from autoposter import logs
from autoposter.config import Config
from autoposter.errors import AutoposterError, NotFoundError
from autoposter.fetch import Fetcher
from autoposter.ops import Backup, backup_sqlite, describe_expiry, is_sqlite
from autoposter.parse import parse_feed
from autoposter.pipeline import DispatchResult, PollResult, dispatch_due, oldest_first, spec_for
from autoposter.routing import accepts
from autoposter.runtime import Runtime, build_publishers
from autoposter.storage import (
    AccountSummary,
    DueDelivery,
    EventRecord,
    FeedSummary,
    NewItem,
    PlannedDelivery,
    PostedRecord,
    RecentDelivery,
    Storage,
)
from autoposter.types import (
    AccountInfo,
    DeliveryState,
    Item,
    NotModified,
    Post,
    PostSpec,
    Publisher,
)

__all__ = [
    "AccountChange",
    "AccountCheck",
    "BackfillProgress",
    "BackfillRequest",
    "BackfillResult",
    "BackupResult",
    "Cycle",
    "Decided",
    "Decisions",
    "PostRequest",
    "Posted",
    "Preview",
    "PreviewEntry",
    "Probe",
    "QueueEntry",
    "QueueListing",
    "RenderedPost",
    "SchemaUpgrade",
    "Selection",
    "Status",
    "approve",
    "backfill",
    "backup_database",
    "check_accounts",
    "database_label",
    "describe_account",
    "export_events",
    "export_posted",
    "pause_account",
    "post_now",
    "preview",
    "probe_feed",
    "queue",
    "reject",
    "resume_account",
    "retry",
    "run_cycle",
    "skip",
    "status",
    "upgrade_database",
]

BACKFILL_BATCH = 20


def _now() -> datetime:
    return datetime.now(UTC)


def _require_feed(config: Config, name: str) -> None:
    if name not in config.feeds:
        raise NotFoundError("feed", name, tuple(config.feeds))


def _require_account(config: Config, name: str) -> None:
    if name not in config.accounts:
        raise NotFoundError("account", name, tuple(config.accounts))


# --- rendering for people to read -------------------------------------------------------


def _writer_render(
    config: Config,
    account_name: str,
    item: Item,
    spec: PostSpec,
    built: dict[str, Publisher],
) -> Post:
    """The one place where app writes a post for a person to read (preview, queue,
    backfill's dry run). Raises ValueError when the item cannot be written.

    For now through the account's publisher, built the way ``check`` builds
    them, once per operation: ``built`` starts empty and the caller closes what
    it holds (``_close``). The networks' pure writers will take this place.
    """
    if not built:
        built.update(build_publishers(config))
    return built[account_name].render(item, spec)


def _close(built: Mapping[str, Publisher]) -> None:
    for publisher in built.values():
        publisher.close()


@dataclass(frozen=True, slots=True)
class RenderedPost:
    """One account's post as it would be made."""

    account: str
    post: Post


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
    runtime = Runtime.start(config, parse_workers=parse_workers)
    try:
        polls = runtime.poll_all()
        return Cycle(tuple(polls), runtime.dispatch())
    finally:
        runtime.close()


# --- inspecting ---------------------------------------------------------------------------


def database_label(config: Config) -> str:
    """The database's address with any password masked, for people to read."""
    return Storage(config.database).safe_url


@dataclass(frozen=True, slots=True)
class AccountCheck:
    """What ``check --online`` learned about one account; ``text`` says it for people."""

    account: str
    ok: bool
    text: str


def describe_account(info: AccountInfo) -> tuple[str, bool]:
    """Words for an account that answered a check, and whether all is well.

    A publisher reports its token's expiry date as ``details["expires"]``
    (ISO 8601); an expired token is a failure, one expiring soon a warning.
    """
    words = [info.name]
    fine = True
    for key, value in info.details.items():
        if key == "expires" and value:
            expiry = describe_expiry(str(value))
            fine = not expiry.expired
            warn = expiry.soon and not expiry.expired
            words.append(("WARNING: token " if warn else "token ") + expiry.text)
        else:
            words.append(f"{key}={value}")
    return " ".join(words), fine


def check_accounts(config: Config, *, online: bool) -> dict[str, AccountCheck]:
    """Build every account's publisher (raises ConfigError or PluginError naming the one at
    fault); with ``online``, also ask each network whether its credentials work."""
    publishers = build_publishers(config)
    checks: dict[str, AccountCheck] = {}
    try:
        if online:
            for name, publisher in publishers.items():
                try:
                    text, fine = describe_account(publisher.check())
                except AutoposterError as e:
                    text, fine = str(e), False
                checks[name] = AccountCheck(name, fine, text)
    finally:
        _close(publishers)
    return checks


@dataclass(frozen=True, slots=True)
class Probe:
    """A feed fetched and read now, stored nowhere; ``items`` in the document's order.
    ``not_modified``: the server answered 304 (to no validator: its own oddity)."""

    feed: str
    items: tuple[Item, ...]
    not_modified: bool = False


def probe_feed(config: Config, feed: str) -> Probe:
    """Fetch and parse one feed without validators; raises FeedError when it cannot."""
    _require_feed(config, feed)
    feed_config = config.feeds[feed]
    with Fetcher(user_agent=config.user_agent) as fetcher:
        fetched = fetcher.fetch(
            feed_config.url, timeout=feed_config.timeout, max_bytes=feed_config.max_bytes
        )
    if isinstance(fetched, NotModified):
        return Probe(feed, (), not_modified=True)
    parsed = parse_feed(
        fetched.body,
        url=fetched.url,
        headers=fetched.headers,
        default_language=feed_config.language,
    )
    return Probe(feed, parsed.items)


@dataclass(frozen=True, slots=True)
class Status:
    """A snapshot: feeds, accounts' counts per state, the latest deliveries, and what
    waits for a person and why (held and unknown deliveries, paused accounts)."""

    feeds: tuple[FeedSummary, ...]
    accounts: tuple[AccountSummary, ...]
    recent: tuple[RecentDelivery, ...]
    held: tuple[RecentDelivery, ...]
    unknown: tuple[RecentDelivery, ...]
    paused: Mapping[str, str]


def status(config: Config, *, last: int = 10) -> Status:
    """The present state, read from the database; ``last`` latest deliveries."""
    with Storage.open(config.database) as storage:
        return Status(
            feeds=tuple(storage.feed_summaries()),
            accounts=tuple(storage.account_summaries()),
            recent=tuple(storage.recent_deliveries(last)),
            held=tuple(storage.recent_deliveries(1000, state=DeliveryState.HELD.value)),
            unknown=tuple(storage.recent_deliveries(1000, state=DeliveryState.UNKNOWN.value)),
            paused=storage.paused_accounts(),
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
    built: dict[str, Publisher] = {}
    entries: list[QueueEntry] = []
    try:
        with Storage.open(config.database) as storage:
            paused = storage.paused_accounts()
            for state in states:
                for delivery in storage.deliveries_in(state):
                    entries.append(QueueEntry(delivery, _queued_text(config, delivery, built)))
    finally:
        _close(built)
    return QueueListing(paused, tuple(entries))


def _queued_text(config: Config, delivery: DueDelivery, built: dict[str, Publisher]) -> str | None:
    if delivery.account not in config.accounts:
        return None
    spec = spec_for(config, delivery.feed, delivery.account, delivery.item)
    try:
        return _writer_render(config, delivery.account, delivery.item, spec, built).text
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
    built: dict[str, Publisher] = {}
    entries: list[PreviewEntry] = []
    try:
        for item in latest:
            if not accepts(feed_config, item):
                entries.append(PreviewEntry(item, False, ()))
                continue
            posts = tuple(
                RenderedPost(
                    account,
                    _writer_render(
                        config, account, item, spec_for(config, feed, account, item), built
                    ),
                )
                for account in feed_config.accounts
            )
            entries.append(PreviewEntry(item, True, posts))
    finally:
        _close(built)
    return Preview(feed, tuple(entries))


def export_posted(config: Config, *, since: datetime | None = None) -> tuple[PostedRecord, ...]:
    """The public record: what was posted where and when, oldest first."""
    with Storage.open(config.database) as storage:
        return tuple(storage.posted(since))


def export_events(config: Config, *, since: datetime | None = None) -> tuple[EventRecord, ...]:
    """The audit trail: every state change of every delivery, with who made it."""
    with Storage.open(config.database) as storage:
        return tuple(storage.events(since))


# --- decisions on deliveries --------------------------------------------------------------


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


def _decide(
    config: Config,
    selection: Selection,
    applies_to: Sequence[DeliveryState],
    act: _Transition,
    actor: str,
) -> Decisions:
    if selection.feed is not None:
        _require_feed(config, selection.feed)
    decided: list[Decided] = []
    with Storage.open(config.database) as storage:
        if selection.ids:
            ids = list(selection.ids)
        else:
            states = [s for s in applies_to if s is DeliveryState.HELD or not selection.held_only]
            ids = storage.delivery_ids(
                item_ids=None if selection.item is None else [selection.item],
                feed=selection.feed,
                states=states,
            )
        for delivery_id in ids:
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
        [DeliveryState.HELD],
        lambda s, i, at, who: s.release(i, at, actor=who, approve=True),
        actor,
    )


def reject(config: Config, selection: Selection, *, actor: str) -> Decisions:
    """Drop held deliveries for good: they become skipped."""
    return _decide(
        config,
        selection,
        [DeliveryState.HELD],
        lambda s, i, at, who: s.release(i, at, actor=who, approve=False),
        actor,
    )


def retry(config: Config, selection: Selection, *, actor: str) -> Decisions:
    """Send failed or unknown deliveries again, with their same idempotency key."""
    return _decide(
        config,
        selection,
        [DeliveryState.FAILED, DeliveryState.UNKNOWN],
        lambda s, i, at, who: s.retry(i, at, actor=who),
        actor,
    )


def skip(config: Config, selection: Selection, *, actor: str) -> Decisions:
    """Never send these deliveries (pending, held, failed or unknown ones)."""
    return _decide(
        config,
        selection,
        [DeliveryState.PENDING, DeliveryState.HELD, DeliveryState.FAILED, DeliveryState.UNKNOWN],
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
class Posted:
    """``waiting``: held back by quiet hours, pacing or a paused account; the daemon
    sends them."""

    item: int
    sent: int
    waiting: int
    failed: int


def post_now(config: Config, request: PostRequest, *, actor: str) -> Posted:
    """Store a new item on the feed and send its deliveries now."""
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
    runtime = Runtime.start(config, parse_workers=0)
    try:
        planned = tuple(PlannedDelivery(a, urgent=request.urgent) for a in targets)
        (item_id,) = runtime.storage.add_items(
            request.feed, feed.url, runtime.now(), [NewItem(item, planned)], actor=actor
        )
        result = dispatch_due(
            config=config,
            storage=runtime.storage,
            publishers=runtime.publishers,
            alerts=runtime.alerts,
            now=runtime.now,
            ids=runtime.storage.delivery_ids(item_ids=[item_id]),
        )
    finally:
        runtime.close()
    return Posted(item_id, result.sent, result.waiting, result.failed + result.unknown)


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    """Older items of ``feed`` to post on purpose, the baseline's included: those
    published ``since`` (UTC), at most ``limit`` (the newest), to ``accounts`` (default:
    the feed's). ``dry_run`` renders them and posts nothing."""

    feed: str
    since: datetime | None = None
    limit: int | None = None
    accounts: tuple[str, ...] = ()
    dry_run: bool = False


class BackfillProgress(Protocol):
    """Told how a backfill goes, for an interface to show it while it runs."""

    def queued(self, created: int, already: int) -> None:
        """``created`` deliveries were queued; ``already`` were queued or sent before."""

    def sent_one(self) -> None:
        """One more delivery was attempted."""

    def batch_failed(self, failed: int) -> None:
        """In the batch just attempted, ``failed`` deliveries failed."""


@dataclass(frozen=True, slots=True)
class BackfillResult:
    """``items``: the stored items that matched, oldest first. ``rendered``: with a dry
    run, each item's posts; otherwise empty."""

    feed: str
    items: tuple[Item, ...]
    accounts: tuple[str, ...]
    rendered: tuple[tuple[Item, RenderedPost], ...] = ()
    created: int = 0
    sent: int = 0
    failed: int = 0


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
    polled is polled first, so that its items are known.
    """
    _require_feed(config, request.feed)
    feed = config.feeds[request.feed]
    targets = tuple(request.accounts) or tuple(feed.accounts)
    for account in targets:
        _require_account(config, account)
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
        for account in targets:
            created += runtime.storage.create_deliveries(
                [s.id for s in stored], PlannedDelivery(account), runtime.now(), actor=actor
            )
        if progress is not None:
            progress.queued(len(created), len(stored) * len(targets) - len(created))
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
            request.feed, items, targets, created=len(created), sent=sent, failed=failed
        )
    finally:
        runtime.close()


def _render_all(
    config: Config, feed: str, items: Sequence[Item], accounts: Sequence[str]
) -> tuple[tuple[Item, RenderedPost], ...]:
    built: dict[str, Publisher] = {}
    try:
        return tuple(
            (
                item,
                RenderedPost(
                    account,
                    _writer_render(
                        config, account, item, spec_for(config, feed, account, item), built
                    ),
                ),
            )
            for item in items
            for account in accounts
        )
    finally:
        _close(built)


# --- the database -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchemaUpgrade:
    """``before`` None: an empty database. ``unknown``: the database's revision is newer
    than this autoposter knows, and nothing was done."""

    database: str
    before: str | None
    after: str | None
    head: str
    unknown: bool = False


def upgrade_database(config: Config) -> SchemaUpgrade:
    """Bring the database schema up to date (the daemon does the same at start)."""
    from alembic.util.exc import CommandError

    storage = Storage(config.database)
    try:
        before, head = storage.schema_revision()
        if before == head:
            return SchemaUpgrade(storage.safe_url, before, before, head)
        try:
            storage.migrate()
        except CommandError:
            return SchemaUpgrade(storage.safe_url, before, before, head, unknown=True)
        after, _ = storage.schema_revision()
        return SchemaUpgrade(storage.safe_url, before, after, head)
    finally:
        storage.close()


@dataclass(frozen=True, slots=True)
class BackupResult:
    """``made`` is None when the database is not SQLite (back it up with its own tool)."""

    database: str
    made: Backup | None


def backup_database(config: Config, path: Path) -> BackupResult:
    """A consistent, checked copy of the SQLite database at ``path`` (a file or a folder),
    readable by its owner only; safe while the daemon runs."""
    safe = Storage(config.database).safe_url
    if not is_sqlite(config.database):
        return BackupResult(safe, None)
    return BackupResult(safe, backup_sqlite(config.database, path))
