"""Deliveries: one per (item, account), moved between states only along the table.

Every change of state goes through ``_transition``, which enforces
``DELIVERY_TRANSITIONS`` and writes the audit event in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from autoposter.storage.base import StorageBase, insert, item_from_row
from autoposter.storage.records import DueDelivery, PlannedDelivery
from autoposter.storage.schema import deliveries, delivery_events, delivery_texts, feeds, items
from autoposter.types import DELIVERY_TRANSITIONS, DeliveryState, Transition


def _delivery_row(item_id: int, planned: PlannedDelivery, at: datetime) -> dict[str, Any]:
    # The idempotency key is fixed here, at birth, and reused on every attempt.
    return {
        "item_id": item_id,
        "account": planned.account,
        "state": planned.state.value,
        "idempotency_key": uuid.uuid4().hex,
        "attempts": 0,
        "hold_reason": planned.hold_reason,
        "urgent": planned.urgent,
        "created_at": at,
        "updated_at": at,
    }


def _birth_event(
    delivery_id: int, planned: PlannedDelivery, at: datetime, actor: str
) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id,
        "at": at,
        "from_state": None,
        "to_state": planned.state.value,
        "actor": actor,
        "detail": planned.hold_reason,
    }


def insert_delivery(
    conn: Connection, item_id: int, planned: PlannedDelivery, at: datetime, *, actor: str
) -> int | None:
    """One delivery with its event; None if the item is already queued for that account."""
    stmt = (
        insert(conn, deliveries)
        .values(**_delivery_row(item_id, planned, at))
        .on_conflict_do_nothing(index_elements=["item_id", "account"])
        .returning(deliveries.c.id)
    )
    delivery_id = conn.execute(stmt).scalar()
    if delivery_id is None:
        return None
    conn.execute(delivery_events.insert().values(**_birth_event(delivery_id, planned, at, actor)))
    return int(delivery_id)


def insert_new_deliveries(
    conn: Connection,
    item_id: int,
    planned: Sequence[PlannedDelivery],
    at: datetime,
    *,
    actor: str,
) -> None:
    """The deliveries of an item inserted in this transaction (so none exists yet), with
    their events: two statements whatever the number of accounts."""
    unique = list({p.account: p for p in planned}.values())
    if not unique:
        return
    ids = conn.execute(
        deliveries.insert().returning(deliveries.c.id, sort_by_parameter_order=True),
        [_delivery_row(item_id, p, at) for p in unique],
    ).scalars()
    conn.execute(
        delivery_events.insert(),
        [_birth_event(i, p, at, actor) for i, p in zip(ids, unique, strict=True)],
    )


class DeliveriesMixin(StorageBase):
    """The queue: what is due, what is in doubt, and each delivery's moves."""

    def create_deliveries(
        self,
        item_ids: Sequence[int],
        planned: PlannedDelivery,
        at: datetime,
        *,
        actor: str,
    ) -> list[int]:
        """Queue items for one more account (backfill); pairs already queued are left alone."""
        created: list[int] = []
        with self._tx() as conn:
            for item_id in item_ids:
                delivery_id = insert_delivery(conn, item_id, planned, at, actor=actor)
                if delivery_id is not None:
                    created.append(delivery_id)
        return created

    def _deliveries_query(self) -> sa.Select[Any]:
        return (
            sa.select(
                deliveries.c.id.label("delivery_id"),
                deliveries.c.account,
                deliveries.c.idempotency_key,
                deliveries.c.attempts,
                deliveries.c.created_at.label("delivery_created_at"),
                deliveries.c.urgent,
                deliveries.c.state,
                deliveries.c.hold_reason,
                deliveries.c.last_error,
                deliveries.c.remote_id,
                deliveries.c.remote_url,
                deliveries.c.sent_at,
                deliveries.c.retract_reason,
                deliveries.c.retract_requested_at,
                deliveries.c.next_attempt_at,
                feeds.c.name.label("feed_name"),
                delivery_texts.c.text.label("edited_text"),
                items,
            )
            .join(items, deliveries.c.item_id == items.c.id)
            .join(feeds, items.c.feed_id == feeds.c.id)
            .outerjoin(delivery_texts, delivery_texts.c.delivery_id == deliveries.c.id)
        )

    def _fetch_deliveries(self, query: sa.Select[Any]) -> list[DueDelivery]:
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            DueDelivery(
                id=row.delivery_id,
                account=row.account,
                feed=row.feed_name,
                idempotency_key=row.idempotency_key,
                attempts=row.attempts,
                created_at=row.delivery_created_at,
                item=item_from_row(row),
                urgent=bool(row.urgent),
                state=row.state,
                hold_reason=row.hold_reason,
                last_error=row.last_error,
                remote_id=row.remote_id,
                remote_url=row.remote_url,
                sent_at=row.sent_at,
                retract_reason=row.retract_reason,
                retract_requested_at=row.retract_requested_at,
                item_id=row.id,
                text=row.edited_text,
                next_attempt_at=row.next_attempt_at,
            )
            for row in rows
        ]

    def due_deliveries(
        self,
        now: datetime,
        *,
        limit: int = 100,
        ids: Sequence[int] | None = None,
        accounts: Sequence[str] | None = None,
        only: Mapping[str, int | None] | None = None,
    ) -> list[DueDelivery]:
        """Pending deliveries whose time has come, oldest first (urgent ones first of all).

        ``accounts``: only these accounts (the configured, unpaused ones), so that a
        blocked account's backlog never fills the batch. ``only``: for these accounts,
        only this one delivery (None: none at all).
        """
        query = self._deliveries_query().where(
            deliveries.c.state == DeliveryState.PENDING.value,
            # A retracted item is never posted, even before its deliveries are settled.
            deliveries.c.retract_requested_at.is_(None),
            sa.or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now),
        )
        if ids is not None:
            query = query.where(deliveries.c.id.in_(list(ids)))
        if accounts is not None:
            query = query.where(deliveries.c.account.in_(list(accounts)))
        for account, allowed in (only or {}).items():
            blocked = deliveries.c.account == account
            if allowed is not None:
                blocked = sa.and_(blocked, deliveries.c.id != allowed)
            query = query.where(sa.not_(blocked))
        query = query.order_by(
            deliveries.c.urgent.desc(), deliveries.c.created_at, items.c.published, deliveries.c.id
        )
        return self._fetch_deliveries(query.limit(limit))

    def deliveries_in(
        self, state: DeliveryState, *, updated_before: datetime | None = None
    ) -> list[DueDelivery]:
        """Every delivery in ``state``, oldest first (reconciliation, the operator's queue)."""
        query = self._deliveries_query().where(deliveries.c.state == state.value)
        if updated_before is not None:
            query = query.where(deliveries.c.updated_at < updated_before)
        return self._fetch_deliveries(query.order_by(deliveries.c.created_at, deliveries.c.id))

    def delivery(self, delivery_id: int) -> DueDelivery | None:
        found = self._fetch_deliveries(
            self._deliveries_query().where(deliveries.c.id == delivery_id)
        )
        return found[0] if found else None

    def defer_account(self, account: str, until: datetime) -> None:
        """Every due delivery of ``account`` waits until ``until``: an account whose network
        just failed is not tried again, delivery after delivery, at every pass."""
        with self._tx() as conn:
            conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.account == account,
                    deliveries.c.state == DeliveryState.PENDING.value,
                    sa.or_(
                        deliveries.c.next_attempt_at.is_(None),
                        deliveries.c.next_attempt_at < until,
                    ),
                )
                .values(next_attempt_at=until)
            )

    def waiting_accounts(self) -> set[str]:
        """Accounts with deliveries still to settle (pending, held, sending)."""
        waiting = (
            DeliveryState.PENDING,
            DeliveryState.HELD,
            DeliveryState.SENDING,
            DeliveryState.RETRACTING,
            DeliveryState.REMOVING,
        )
        with self._tx() as conn:
            return set(
                conn.execute(
                    sa.select(deliveries.c.account)
                    .where(deliveries.c.state.in_([s.value for s in waiting]))
                    .distinct()
                ).scalars()
            )

    def defer(self, delivery_id: int, until: datetime) -> None:
        """Not before ``until`` (quiet hours, pacing); no state change, so no event."""
        with self._tx() as conn:
            conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.id == delivery_id,
                    deliveries.c.state == DeliveryState.PENDING.value,
                )
                .values(next_attempt_at=until)
            )

    def sent_times(self, account: str, since: datetime) -> list[datetime]:
        """When the account's posts went out since ``since``: the history pacing needs."""
        with self._tx() as conn:
            return list(
                conn.execute(
                    sa.select(deliveries.c.sent_at).where(
                        deliveries.c.account == account,
                        deliveries.c.state == DeliveryState.SENT.value,
                        deliveries.c.sent_at >= since,
                    )
                ).scalars()
            )

    def _transition(
        self,
        delivery_id: int,
        transition: Transition,
        at: datetime,
        *,
        actor: str,
        detail: str | None = None,
        expect_attempts: int | None = None,
        **values: Any,
    ) -> bool:
        """Move one delivery along ``transition``, with its audit event; False if it was in
        none of the transition's sources (someone else moved it first), or, with
        ``expect_attempts``, if its attempt count moved since the caller read it."""
        move = DELIVERY_TRANSITIONS[transition]
        with self._tx() as conn:
            current = conn.execute(
                sa.select(deliveries.c.state).where(deliveries.c.id == delivery_id)
            ).scalar()
            if current is None or current not in move.sources:
                return False
            where = [deliveries.c.id == delivery_id, deliveries.c.state == current]
            if expect_attempts is not None:
                where.append(deliveries.c.attempts == expect_attempts)
            result = conn.execute(
                deliveries.update()
                .where(*where)
                .values(state=move.target.value, updated_at=at, **{"in_doubt": False, **values})
            )
            if result.rowcount != 1:
                return False
            conn.execute(
                delivery_events.insert().values(
                    delivery_id=delivery_id,
                    at=at,
                    from_state=current,
                    to_state=move.target.value,
                    actor=actor,
                    detail=detail,
                )
            )
        return True

    def mark_sending(self, delivery_id: int, at: datetime, *, attempts: int) -> bool:
        """Claim a pending delivery before the network call; False if it is not pending, or
        if another dispatcher attempted it since the caller read it (``attempts``)."""
        return self._transition(
            delivery_id,
            Transition.CLAIM,
            at,
            actor="daemon",
            expect_attempts=attempts,
            attempts=deliveries.c.attempts + 1,
        )

    def mark_sent(
        self, delivery_id: int, at: datetime, *, remote_id: str, remote_url: str | None
    ) -> bool:
        return self._transition(
            delivery_id,
            Transition.CONFIRM,
            at,
            actor="daemon",
            detail=remote_url or remote_id,
            remote_id=remote_id,
            remote_url=remote_url,
            sent_at=at,
            last_error=None,
            next_attempt_at=None,
        )

    def mark_failed(self, delivery_id: int, at: datetime, *, error: str) -> bool:
        """A permanent failure: during the attempt, or before it (a post that cannot render)."""
        return self._transition(
            delivery_id,
            Transition.FAIL,
            at,
            actor="daemon",
            detail=error,
            last_error=error,
            next_attempt_at=None,
        )

    def mark_retry(
        self,
        delivery_id: int,
        at: datetime,
        *,
        error: str,
        next_attempt_at: datetime,
        in_doubt: bool = False,
    ) -> bool:
        """Back to pending after a retryable error; not due before ``next_attempt_at``.

        ``in_doubt``: the attempt may have been posted after all; the account's other
        deliveries wait until this one is settled.
        """
        return self._transition(
            delivery_id,
            Transition.BACK_OFF,
            at,
            actor="daemon",
            detail=error,
            last_error=error,
            next_attempt_at=next_attempt_at,
            in_doubt=in_doubt,
        )

    def in_doubt(self) -> dict[str, int | None]:
        """Accounts with a delivery whose fate is not settled -> that delivery's id (None
        when it is still ``sending``, so nothing of the account may go)."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(deliveries.c.account, deliveries.c.id, deliveries.c.state).where(
                    sa.or_(
                        deliveries.c.state == DeliveryState.SENDING.value,
                        sa.and_(
                            deliveries.c.state == DeliveryState.PENDING.value,
                            deliveries.c.in_doubt.is_(True),
                        ),
                    )
                )
            ).all()
        doubt: dict[str, int | None] = {}
        for row in rows:
            if row.state == DeliveryState.SENDING.value:
                doubt[row.account] = None
            elif doubt.get(row.account, 0) is not None:
                doubt[row.account] = min(row.id, doubt.get(row.account) or row.id)
        return doubt

    def mark_found(
        self,
        delivery_id: int,
        at: datetime,
        *,
        remote_id: str,
        remote_url: str | None,
        actor: str = "daemon",
    ) -> bool:
        """The network says the post exists (a lookup after a crash or before a retry)."""
        return self._transition(
            delivery_id,
            Transition.FIND,
            at,
            actor=actor,
            detail=f"found already posted: {remote_url or remote_id}",
            remote_id=remote_id,
            remote_url=remote_url,
            sent_at=at,
            last_error=None,
            next_attempt_at=None,
        )

    def mark_unknown(self, delivery_id: int, at: datetime, *, error: str) -> bool:
        """Perhaps posted, perhaps not, and the network cannot tell: an operator decides."""
        return self._transition(
            delivery_id,
            Transition.DOUBT,
            at,
            actor="daemon",
            detail=error,
            last_error=error,
            next_attempt_at=None,
        )

    def requeue(self, delivery_id: int, at: datetime, *, detail: str) -> bool:
        """Back to pending, due at once: the network says an interrupted post does not exist,
        or the account was paused during the attempt."""
        return self._transition(
            delivery_id,
            Transition.REQUEUE,
            at,
            actor="daemon",
            detail=detail,
            next_attempt_at=None,
        )

    def retry(self, delivery_id: int, at: datetime, *, actor: str) -> bool:
        """An operator's retry of a failed or unknown delivery, with its same key."""
        return self._transition(
            delivery_id,
            Transition.RETRY,
            at,
            actor=actor,
            attempts=0,
            next_attempt_at=None,
        )

    def skip(self, delivery_id: int, at: datetime, *, actor: str) -> bool:
        """An operator's decision that this delivery will never be sent."""
        return self._transition(
            delivery_id,
            Transition.SKIP,
            at,
            actor=actor,
            next_attempt_at=None,
        )

    def mark_urgent(self, delivery_ids: Sequence[int], at: datetime) -> int:
        """Held or pending deliveries that quiet hours, blackouts and pacing will not hold
        back once approved (an alert); how many were marked."""
        waiting = [DeliveryState.HELD.value, DeliveryState.PENDING.value]
        with self._tx() as conn:
            result = conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(list(delivery_ids)), deliveries.c.state.in_(waiting))
                .values(urgent=True, next_attempt_at=None, updated_at=at)
            )
        return int(result.rowcount)

    def release(self, delivery_id: int, at: datetime, *, actor: str, approve: bool) -> bool:
        """An operator's decision on a held delivery: pending if approved, skipped if not."""
        return self._transition(
            delivery_id,
            Transition.APPROVE if approve else Transition.REJECT,
            at,
            actor=actor,
            hold_reason=None,
        )
