"""Storage against a real SQLite file and the local PostgreSQL, through the same code."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from autoposter.errors import StorageError
from autoposter.storage import (
    SCHEMA_HEAD,
    FeedState,
    NewItem,
    PlannedDelivery,
    Storage,
    storage_key,
)
from autoposter.storage.schema import metadata
from autoposter.types import (
    DELIVERY_BIRTH_STATES,
    DELIVERY_TRANSITIONS,
    DeliveryState,
    Image,
    Item,
    Removal,
    Transition,
)

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def item(n: int, **kw: object) -> Item:
    fields: dict[str, object] = {
        "key": f"guid-{n}",
        "link": f"https://www.ville.example/actu/{n}",
        "title": f"Actualité {n}",
        "published": T0 + timedelta(minutes=n),
    }
    fields.update(kw)
    return Item(**fields)  # type: ignore[arg-type]


@pytest.fixture
def storage(database_url: str) -> Storage:
    s = Storage.open(database_url)
    yield s  # type: ignore[misc]
    s.close()


def poll(
    storage: Storage, items: list[Item], *, baseline: bool = False, accounts=("a",)
) -> list[int]:
    fresh = storage.unseen("actu", items)
    return storage.record_poll(
        "actu",
        "https://www.ville.example/feed",
        T0,
        [NewItem(i, tuple(PlannedDelivery(a) for a in accounts)) for i in fresh],
        baseline=baseline,
        etag='"v1"',
        last_modified=None,
        body_hash="h1",
    )


def test_migrations_match_the_tables(storage: Storage) -> None:
    current, head = storage.schema_revision()
    assert current == head == SCHEMA_HEAD == "0007"
    with storage._engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_an_up_to_date_database_opens_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/autoposter.db"
    Storage.open(url).close()  # creates the schema, with Alembic
    script = (
        "import sys\n"
        "from autoposter.storage import Storage\n"
        f"Storage.open({url!r}).close()\n"
        "print('alembic' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_migrate_is_idempotent(database_url: str) -> None:
    for _ in range(3):
        with Storage.open(database_url) as s:
            assert s.schema_revision() == ("0007", "0007")


def test_items_are_stored_once_and_round_trip(storage: Storage) -> None:
    rich = item(
        1,
        summary="Résumé",
        language="fr-FR",
        categories=("Vie municipale", "Travaux"),
        image=Image("https://www.ville.example/i.jpg", "Une rue"),
        author="Service communication",
        updated=T0 + timedelta(hours=1),
    )
    assert len(poll(storage, [rich, item(2)])) == 2
    assert poll(storage, [rich, item(2)]) == []
    stored = storage.items_for_backfill("actu")
    assert [s.item for s in stored] == [item(2), rich]  # newest first
    assert storage.feed_state("actu") is not None
    assert storage.feed_state("actu").etag == '"v1"'  # type: ignore[union-attr]


def test_a_new_guid_on_a_known_link_is_not_new(storage: Storage) -> None:
    poll(storage, [item(1), item(2)])
    churned = [
        item(1, key="new-cms-1", link="http://ville.example/actu/1/?utm_source=x"),
        item(2, key="new-cms-2"),
        item(3),
    ]
    assert storage.unseen("actu", churned) == [churned[2]]


def test_duplicates_within_one_document_count_once(storage: Storage) -> None:
    assert storage.unseen("actu", [item(1), item(1), item(2, link=item(1).link)]) == [item(1)]


def test_a_very_long_key_is_hashed_to_fit(storage: Storage) -> None:
    long_key = "urn:" + "x" * 5000
    assert poll(storage, [item(1, key=long_key)]) != []
    assert storage.unseen("actu", [item(1, key=long_key, link="https://other.example/")]) == []
    assert storage_key(long_key).startswith("sha256:")


def test_deliveries_move_through_their_states_with_events(storage: Storage) -> None:
    poll(storage, [item(1)], accounts=("mastodon", "bluesky"))
    due = storage.due_deliveries(T0)
    assert [d.account for d in due] == ["mastodon", "bluesky"]
    first = due[0]
    assert storage.mark_sending(first.id, T0, attempts=0)
    assert not storage.mark_sending(first.id, T0, attempts=0), "claimed: cannot be claimed again"
    assert storage.mark_retry(
        first.id, T0, error="HTTP 503", next_attempt_at=T0 + timedelta(minutes=5)
    )
    assert [d.id for d in storage.due_deliveries(T0)] == [due[1].id]
    later = storage.due_deliveries(T0 + timedelta(minutes=5))
    assert first.id in [d.id for d in later]
    assert next(d for d in later if d.id == first.id).attempts == 1
    assert not storage.mark_sending(first.id, T0, attempts=0), "a stale copy cannot claim it"
    assert storage.mark_sending(first.id, T0, attempts=1)
    assert storage.mark_sent(
        first.id, T0, remote_id="109", remote_url="https://social.example/@v/109"
    )
    assert not storage.mark_failed(first.id, T0, error="late"), "sent is final"
    with storage._engine.connect() as conn:
        from autoposter.storage.schema import delivery_events

        rows = conn.execute(
            sa.select(delivery_events.c.from_state, delivery_events.c.to_state)
            .where(delivery_events.c.delivery_id == first.id)
            .order_by(delivery_events.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        (None, "pending"),
        ("pending", "sending"),
        ("sending", "pending"),
        ("pending", "sending"),
        ("sending", "sent"),
    ]
    assert storage.account_summaries()[1].counts == {"sent": 1}


def test_held_deliveries_wait_for_an_operator(storage: Storage) -> None:
    fresh = storage.unseen("actu", [item(1)])
    storage.record_poll(
        "actu",
        "u",
        T0,
        [NewItem(fresh[0], (PlannedDelivery("a", DeliveryState.HELD, "burst"),))],
        baseline=False,
        etag=None,
        last_modified=None,
        body_hash=None,
    )
    assert storage.due_deliveries(T0) == []
    (held,) = storage.recent_deliveries(state="held")
    assert storage.release(held.id, T0, actor="cli:test", approve=True)
    assert not storage.release(held.id, T0, actor="cli:test", approve=False)
    assert [d.id for d in storage.due_deliveries(T0)] == [held.id]


def test_backfill_never_queues_an_item_twice_for_an_account(storage: Storage) -> None:
    ids = poll(storage, [item(1), item(2)], baseline=True, accounts=())
    created = storage.create_deliveries(ids, PlannedDelivery("a"), T0, actor="cli:test")
    assert len(created) == 2
    assert storage.create_deliveries(ids, PlannedDelivery("a"), T0, actor="cli:test") == []


def test_failures_are_counted_and_reset(storage: Storage) -> None:
    assert storage.record_failure("actu", "u", "HTTP 500", T0) == 1
    assert storage.record_failure("actu", "u", "HTTP 500", T0) == 2
    storage.record_unchanged("actu", "u", T0)
    state = storage.feed_state("actu")
    assert state is not None
    assert state.failures == 0
    (summary,) = storage.feed_summaries()
    assert summary.last_error is None


def test_feed_state_follows_every_write_of_this_process(database_url: str) -> None:
    later = T0 + timedelta(minutes=5)
    with Storage.open(database_url) as storage, Storage.open(database_url) as fresh_eyes:

        def both() -> tuple[FeedState | None, FeedState | None]:
            return storage.feed_state("actu"), fresh_eyes.feed_state("actu")

        poll(storage, [item(1)], baseline=True)
        state, from_db = both()
        assert state == from_db
        assert state is not None
        assert state.etag == '"v1"'
        assert state.baseline_url is not None
        storage.record_unchanged("actu", "https://www.ville.example/feed", later, etag='"v2"')
        fresh_eyes._forget("actu")
        state, from_db = both()
        assert state == from_db
        assert state is not None
        assert state.etag == '"v2"'
        assert state.last_polled_at == later
        assert storage.record_failure("actu", "https://www.ville.example/feed", "HTTP 500", later)
        fresh_eyes._forget("actu")
        state, from_db = both()
        assert state == from_db
        assert state is not None
        assert state.failures == 1
        assert state.etag == '"v2"'


def test_concurrent_polls_of_one_feed_store_each_item_once(database_url: str) -> None:
    stores = [Storage.open(database_url) for _ in range(4)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(s: Storage) -> None:
        try:
            barrier.wait(timeout=10)
            poll(s, [item(n) for n in range(20)])
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(stores[0].items_for_backfill("actu")) == 20
    assert len(stores[0].delivery_states()) == 20
    for s in stores:
        s.close()


def test_an_unusable_database_url_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="cannot use database"):
        Storage("nosuchdb://x")


def test_passwords_stay_out_of_storage_errors() -> None:
    s = Storage("postgresql+psycopg://autoposter:FAKE-DB-PASSWORD@127.0.0.1:1/none")
    with pytest.raises(StorageError) as info:
        s.migrate()
    assert "FAKE-DB-PASSWORD" not in str(info.value)


def test_account_state_survives_a_restart(database_url: str) -> None:
    with Storage.open(database_url) as s:
        state = s.account_state("ville_bsky")
        assert state.get("session") is None
        state.set("session", "FAKE-SESSION-1")
        state.set("session", "FAKE-SESSION-2")
        s.account_state("other").set("session", "FAKE-OTHER")
    with Storage.open(database_url) as s:
        assert s.account_state("ville_bsky").get("session") == "FAKE-SESSION-2"
        s.account_state("ville_bsky").set("session", None)
        assert s.account_state("ville_bsky").get("session") is None
        assert s.account_state("other").get("session") == "FAKE-OTHER"


# --- the delivery state machine ------------------------------------------------------------

# The DESIGN.md diagram, edge by edge; pending --> held is a delivery born held instead.
DIAGRAM = {
    (DeliveryState.PENDING, DeliveryState.SENDING),
    (DeliveryState.SENDING, DeliveryState.SENT),
    (DeliveryState.SENDING, DeliveryState.FAILED),
    (DeliveryState.HELD, DeliveryState.PENDING),
    (DeliveryState.HELD, DeliveryState.SKIPPED),
    (DeliveryState.SENDING, DeliveryState.PENDING),
    (DeliveryState.SENDING, DeliveryState.UNKNOWN),
}


def claim(storage: Storage, delivery_id: int) -> bool:
    delivery = storage.delivery(delivery_id)
    assert delivery is not None
    return storage.mark_sending(delivery_id, T0, attempts=delivery.attempts)


# Each transition through the Storage method that performs it.
MOVES: dict[Transition, Callable[[Storage, int], bool]] = {
    Transition.CLAIM: claim,
    Transition.CONFIRM: lambda s, i: s.mark_sent(i, T0, remote_id="1", remote_url=None),
    Transition.FAIL: lambda s, i: s.mark_failed(i, T0, error="refused"),
    Transition.BACK_OFF: lambda s, i: s.mark_retry(i, T0, error="503", next_attempt_at=T0),
    Transition.FIND: lambda s, i: s.mark_found(i, T0, remote_id="1", remote_url=None),
    Transition.DOUBT: lambda s, i: s.mark_unknown(i, T0, error="timeout"),
    Transition.REQUEUE: lambda s, i: s.requeue(i, T0, detail="not posted"),
    Transition.RETRY: lambda s, i: s.retry(i, T0, actor="cli:test"),
    Transition.SKIP: lambda s, i: s.skip(i, T0, actor="cli:test"),
    Transition.APPROVE: lambda s, i: s.release(i, T0, actor="cli:test", approve=True),
    Transition.REJECT: lambda s, i: s.release(i, T0, actor="cli:test", approve=False),
    Transition.RETRACT: lambda s, i: s.retract_delivery(i, T0, actor="cli:test", reason="x"),
    Transition.WITHDRAW: lambda s, i: s.withdraw_delivery(i, T0, actor="cli:test", reason="x"),
    Transition.CLAIM_REMOVAL: lambda s, i: claim_removal(s, i),
    Transition.REMOVE: lambda s, i: s.mark_removed(i, T0, removal=Removal.DELETED),
    Transition.DELAY_REMOVAL: lambda s, i: s.delay_removal(i, T0, error="503", next_attempt_at=T0),
    Transition.RESUME_REMOVAL: lambda s, i: s.resume_removal(i, T0, detail="crashed"),
    Transition.FAIL_REMOVAL: lambda s, i: s.fail_removal(i, T0, error="cannot"),
}


def claim_removal(storage: Storage, delivery_id: int) -> bool:
    delivery = storage.delivery(delivery_id)
    assert delivery is not None
    return storage.claim_removal(delivery_id, T0, attempts=delivery.attempts)


_SENT = (Transition.CLAIM, Transition.CONFIRM)

# How to bring a pending delivery to each state, through storage's own transitions.
REACH: dict[DeliveryState, tuple[Transition, ...]] = {
    DeliveryState.PENDING: (),
    DeliveryState.HELD: (),  # born held
    DeliveryState.SENDING: (Transition.CLAIM,),
    DeliveryState.SENT: (Transition.CLAIM, Transition.CONFIRM),
    DeliveryState.FAILED: (Transition.FAIL,),
    DeliveryState.UNKNOWN: (Transition.DOUBT,),
    DeliveryState.SKIPPED: (Transition.SKIP,),
    DeliveryState.RETRACTING: (*_SENT, Transition.RETRACT),
    DeliveryState.REMOVING: (*_SENT, Transition.RETRACT, Transition.CLAIM_REMOVAL),
    DeliveryState.RETRACTED: (
        *_SENT,
        Transition.RETRACT,
        Transition.CLAIM_REMOVAL,
        Transition.REMOVE,
    ),
    DeliveryState.RETRACT_FAILED: (*_SENT, Transition.RETRACT, Transition.FAIL_REMOVAL),
}


def test_the_transition_table_names_only_delivery_states() -> None:
    assert set(DELIVERY_TRANSITIONS) == set(Transition) == set(MOVES)
    for move in DELIVERY_TRANSITIONS.values():
        assert move.sources
        assert all(isinstance(s, DeliveryState) for s in move.sources)
        assert isinstance(move.target, DeliveryState)
        assert move.target not in move.sources
    assert set(DeliveryState) >= DELIVERY_BIRTH_STATES
    assert set(REACH) == set(DeliveryState)


def test_the_design_diagram_is_in_the_transition_table() -> None:
    edges = {(s, m.target) for m in DELIVERY_TRANSITIONS.values() for s in m.sources}
    assert edges >= DIAGRAM
    assert {DeliveryState.PENDING, DeliveryState.HELD} == DELIVERY_BIRTH_STATES


def test_a_delivery_cannot_be_born_in_a_later_state() -> None:
    with pytest.raises(ValueError, match="cannot start sent"):
        PlannedDelivery("a", DeliveryState.SENT)


def test_each_transition_moves_exactly_the_states_the_table_allows(storage: Storage) -> None:
    states = list(DeliveryState)
    for n, (transition, move) in enumerate(DELIVERY_TRANSITIONS.items()):
        planned = tuple(
            PlannedDelivery(
                s.value, DeliveryState.HELD if s is DeliveryState.HELD else DeliveryState.PENDING
            )
            for s in states
        )
        fresh = storage.unseen("actu", [item(n)])
        (item_id,) = storage.record_poll(
            "actu",
            "u",
            T0,
            [NewItem(fresh[0], planned)],
            baseline=False,
            etag=None,
            last_modified=None,
            body_hash=None,
        )
        ids = {d.account: d.id for d in storage.deliveries_in(DeliveryState.PENDING)}
        ids.update({d.account: d.id for d in storage.deliveries_in(DeliveryState.HELD)})
        for state in states:
            for step in REACH[state]:
                assert MOVES[step](storage, ids[state.value])
        assert {
            (i, state) for (i, state) in storage.delivery_states().items() if i[0] == item_id
        } == {((item_id, s.value), s.value) for s in states}
        for state in states:
            allowed = state in move.sources
            assert MOVES[transition](storage, ids[state.value]) is allowed, (transition, state)
            now = storage.delivery(ids[state.value])
            assert now is not None
            assert now.state == (move.target if allowed else state), (transition, state)
