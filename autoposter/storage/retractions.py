"""Retractions: taking back what was posted, delivery by delivery, along the same table.

A retraction is decided once (``request_retraction``: who, why, when, stored on
each delivery) and then settled by moves of ``DELIVERY_TRANSITIONS``: a sent
post becomes ``retracting`` (work for dispatch), a delivery not sent is
skipped. A delivery that was being sent when the decision came is settled
when its send is (``settle_retractions``, at each dispatch pass).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from autoposter.storage.deliveries import DeliveriesMixin
from autoposter.storage.items import storage_key
from autoposter.storage.records import DueDelivery, PostedItem
from autoposter.storage.schema import deliveries, feeds, items
from autoposter.types import DeliveryState, Removal, Transition

_NOT_SENT = (
    DeliveryState.PENDING,
    DeliveryState.HELD,
    DeliveryState.FAILED,
    DeliveryState.UNKNOWN,
)


class RetractionsMixin(DeliveriesMixin):
    """The decisions to take posts back, and the moves that carry them out."""

    def item_ids_for(self, ref: str) -> list[int]:
        """The items ``ref`` names: an item id, or a link (as written or canonical)."""
        query = sa.select(items.c.id)
        if ref.isdigit():
            query = query.where(items.c.id == int(ref))
        else:
            query = query.where(sa.or_(items.c.link == ref, items.c.canonical_link == ref))
        with self._tx() as conn:
            return [int(i) for i in conn.execute(query.order_by(items.c.id)).scalars()]

    def request_retraction(
        self,
        item_ids: Sequence[int],
        at: datetime,
        *,
        actor: str,
        reason: str,
        accounts: Sequence[str] | None = None,
    ) -> list[int]:
        """Record that the items' posts (on ``accounts``, default all) are to be taken back,
        and settle what can be at once. Returns the deliveries concerned, oldest first.

        A retraction already decided keeps its first actor and reason; one that failed is
        tried again.
        """
        where = [deliveries.c.item_id.in_(list(item_ids))]
        if accounts is not None:
            where.append(deliveries.c.account.in_(list(accounts)))
        with self._tx() as conn:
            conn.execute(
                deliveries.update()
                .where(*where, deliveries.c.retract_requested_at.is_(None))
                .values(retract_requested_at=at, retracted_by=actor, retract_reason=reason)
            )
            rows = conn.execute(
                sa.select(deliveries.c.id, deliveries.c.state)
                .where(*where)
                .order_by(deliveries.c.created_at, deliveries.c.id)
            ).all()
        for row in rows:
            if row.state == DeliveryState.RETRACT_FAILED.value:
                self.retract_delivery(row.id, at, actor=actor, reason=reason)
        self.settle_retractions(at, ids=[row.id for row in rows], actor=actor)
        return [row.id for row in rows]

    def settle_retractions(
        self, at: datetime, *, ids: Sequence[int] | None = None, actor: str = "daemon"
    ) -> int:
        """Move each delivery with a retraction decided: sent -> ``retracting``, not sent ->
        ``skipped``; one still being sent waits for its outcome. Returns how many moved."""
        settle = (DeliveryState.SENT, *_NOT_SENT)
        query = sa.select(deliveries.c.id, deliveries.c.state, deliveries.c.retract_reason).where(
            deliveries.c.retract_requested_at.is_not(None),
            deliveries.c.state.in_([s.value for s in settle]),
        )
        if ids is not None:
            query = query.where(deliveries.c.id.in_(list(ids)))
        with self._tx() as conn:
            rows = conn.execute(query).all()
        moved = 0
        for row in rows:
            if row.state == DeliveryState.SENT.value:
                done = self.retract_delivery(row.id, at, actor=actor, reason=row.retract_reason)
            else:
                done = self.withdraw_delivery(row.id, at, actor=actor, reason=row.retract_reason)
            moved += done
        return moved

    def retract_delivery(self, delivery_id: int, at: datetime, *, actor: str, reason: str) -> bool:
        """A sent post (or one whose retraction failed) becomes work: ``retracting``."""
        return self._transition(
            delivery_id,
            Transition.RETRACT,
            at,
            actor=actor,
            detail=reason,
            attempts=0,
            next_attempt_at=None,
            last_error=None,
        )

    def withdraw_delivery(self, delivery_id: int, at: datetime, *, actor: str, reason: str) -> bool:
        """A delivery not sent will never be: ``skipped``, saying why."""
        return self._transition(
            delivery_id,
            Transition.WITHDRAW,
            at,
            actor=actor,
            detail=f"retracted before it was sent: {reason}",
            next_attempt_at=None,
        )

    def due_retractions(
        self,
        now: datetime,
        *,
        limit: int = 100,
        ids: Sequence[int] | None = None,
        accounts: Sequence[str] | None = None,
    ) -> list[DueDelivery]:
        """Deliveries in ``retracting`` whose time has come, oldest decision first."""
        query = self._deliveries_query().where(
            deliveries.c.state == DeliveryState.RETRACTING.value,
            sa.or_(deliveries.c.next_attempt_at.is_(None), deliveries.c.next_attempt_at <= now),
        )
        if ids is not None:
            query = query.where(deliveries.c.id.in_(list(ids)))
        if accounts is not None:
            query = query.where(deliveries.c.account.in_(list(accounts)))
        query = query.order_by(deliveries.c.retract_requested_at, deliveries.c.id)
        return self._fetch_deliveries(query.limit(limit))

    def claim_removal(self, delivery_id: int, at: datetime, *, attempts: int) -> bool:
        """Take a retraction before the network call; False if another process took it (or
        it moved) since the caller read it with ``attempts``."""
        return self._transition(
            delivery_id,
            Transition.CLAIM_REMOVAL,
            at,
            actor="daemon",
            detail=f"attempt {attempts + 1}",
            expect_attempts=attempts,
            attempts=deliveries.c.attempts + 1,
        )

    def mark_removed(self, delivery_id: int, at: datetime, *, removal: Removal) -> bool:
        """The network says the post is gone (or, past its limit, says it was withdrawn)."""
        return self._transition(
            delivery_id,
            Transition.REMOVE,
            at,
            actor="daemon",
            detail=removal.value,
            last_error=None,
            next_attempt_at=None,
        )

    def delay_removal(
        self, delivery_id: int, at: datetime, *, error: str, next_attempt_at: datetime
    ) -> bool:
        """A retryable failure: the retraction is due again at ``next_attempt_at``."""
        return self._transition(
            delivery_id,
            Transition.DELAY_REMOVAL,
            at,
            actor="daemon",
            detail=error,
            last_error=error,
            next_attempt_at=next_attempt_at,
        )

    def resume_removal(self, delivery_id: int, at: datetime, *, detail: str) -> bool:
        """Back to ``retracting``, due at once: the process died during the call, or the
        account was paused."""
        return self._transition(
            delivery_id,
            Transition.RESUME_REMOVAL,
            at,
            actor="daemon",
            detail=detail,
            next_attempt_at=None,
        )

    def fail_removal(self, delivery_id: int, at: datetime, *, error: str) -> bool:
        """The network cannot take the post back, or gave up: an operator acts."""
        return self._transition(
            delivery_id,
            Transition.FAIL_REMOVAL,
            at,
            actor="daemon",
            detail=error,
            last_error=error,
            next_attempt_at=None,
        )

    def posted_items(
        self,
        feed: str,
        *,
        sent_since: datetime | None = None,
        keys: Sequence[str] | None = None,
    ) -> list[PostedItem]:
        """The feed's items with a delivery still to retract if need be (sent, or not sent
        yet) and none retracted yet, oldest first: those with a post sent since
        ``sent_since``, or (with ``keys``) those of these keys (as the feed gives them)."""
        live = [DeliveryState.SENT.value, *(s.value for s in _NOT_SENT)]
        query = (
            sa.select(
                items.c.id,
                items.c.key,
                items.c.canonical_link,
                items.c.link,
                items.c.title,
                items.c.published,
                items.c.first_seen_at,
            )
            .join(feeds, items.c.feed_id == feeds.c.id)
            .join(deliveries, deliveries.c.item_id == items.c.id)
            .where(
                feeds.c.name == feed,
                deliveries.c.state.in_(live),
                deliveries.c.retract_requested_at.is_(None),
            )
            .group_by(items.c.id)
            .order_by(items.c.id)
        )
        if keys is not None:
            query = query.where(items.c.key.in_([storage_key(k) for k in keys]))
        if sent_since is not None:
            query = query.where(
                deliveries.c.state == DeliveryState.SENT.value,
                deliveries.c.sent_at >= sent_since,
            )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            PostedItem(
                id=row.id,
                key=row.key,
                canonical_link=row.canonical_link,
                link=row.link,
                title=row.title,
                published=row.published,
                first_seen_at=row.first_seen_at,
            )
            for row in rows
        ]
