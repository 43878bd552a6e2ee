"""Edits: the sent posts whose item was corrected at the source, edited exactly once.

An edit is decided per delivery (``correct_item``: why and when, stored on the
delivery with the item's new text in one transaction, before any network call)
and carried out in steps: ``claim_edit`` (the text fixed, ``editing_at`` set)
-> ``mark_edited`` | ``delay_edit`` | ``fail_edit``. An edit changes a post
that stays online, so none of its steps is a move of ``DELIVERY_TRANSITIONS``:
each applies to a ``sent`` delivery only, leaves it ``sent``, and writes its
audit event (``sent`` -> ``sent``) in the same transaction. Each checks
``edit_requested_at``: a correction that came during a call stays to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from autoposter.storage.deliveries import DeliveriesMixin
from autoposter.storage.records import DueEdit, KnownText
from autoposter.storage.schema import deliveries, delivery_events, feeds, items
from autoposter.types import DeliveryState

_SENT = DeliveryState.SENT.value


def _edit_step(
    conn: Connection,
    delivery_id: int,
    at: datetime,
    *,
    actor: str,
    detail: str,
    guard: Sequence[sa.ColumnElement[bool]] = (),
    **values: Any,
) -> bool:
    """One step of an edit on a sent delivery, with its audit event; False when the
    delivery is not sent (taken back meanwhile) or fails a ``guard`` condition."""
    result = conn.execute(
        deliveries.update()
        .where(deliveries.c.id == delivery_id, deliveries.c.state == _SENT, *guard)
        .values(updated_at=at, **values)
    )
    if result.rowcount != 1:
        return False
    conn.execute(
        delivery_events.insert().values(
            delivery_id=delivery_id,
            at=at,
            from_state=_SENT,
            to_state=_SENT,
            actor=actor,
            detail=detail,
        )
    )
    return True


class EditsMixin(DeliveriesMixin):
    """Corrections at the source: what to compare, what to edit, and the moves."""

    def sent_texts(self, feed: str, *, sent_since: datetime) -> list[KnownText]:
        """The feed's items with a post sent since ``sent_since`` and not taken back,
        oldest first: the only ones whose correction is looked for."""
        query = (
            sa.select(items.c.id, items.c.key, items.c.link, items.c.title, items.c.summary)
            .join(feeds, items.c.feed_id == feeds.c.id)
            .join(deliveries, deliveries.c.item_id == items.c.id)
            .where(
                feeds.c.name == feed,
                deliveries.c.state == DeliveryState.SENT.value,
                deliveries.c.sent_at >= sent_since,
                deliveries.c.retract_requested_at.is_(None),
            )
            .group_by(items.c.id)
            .order_by(items.c.id)
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [KnownText(r.id, r.key, r.link, r.title, r.summary) for r in rows]

    def correct_item(
        self,
        item_id: int,
        at: datetime,
        *,
        title: str,
        summary: str,
        actor: str,
        reason: str,
        edit: bool,
    ) -> list[int]:
        """The item as the site now writes it (later posts, edits and comparisons use it)
        and, with ``edit``, an edit of each of its sent posts, in one transaction: a
        correction is never recorded without its edits. An edit still to do is replaced
        by this one (the latest text wins). Returns the deliveries to edit."""
        with self._tx() as conn:
            conn.execute(
                items.update().where(items.c.id == item_id).values(title=title, summary=summary)
            )
            if not edit:
                return []
            ids = list(
                conn.execute(
                    sa.select(deliveries.c.id)
                    .where(
                        deliveries.c.item_id == item_id,
                        deliveries.c.state == DeliveryState.SENT.value,
                        deliveries.c.retract_requested_at.is_(None),
                    )
                    .order_by(deliveries.c.id)
                ).scalars()
            )
            return [
                int(i)
                for i in ids
                if _edit_step(
                    conn,
                    i,
                    at,
                    actor=actor,
                    detail=reason,
                    edit_requested_at=at,
                    edit_reason=reason,
                    edit_text=None,
                    edit_attempts=0,
                    edit_next_at=None,
                    editing_at=None,
                )
            ]

    def due_edits(
        self,
        now: datetime,
        *,
        stale: datetime,
        limit: int = 100,
        accounts: Sequence[str] | None = None,
    ) -> list[DueEdit]:
        """Edits whose time has come, oldest decision first; one whose call began before
        ``stale`` was interrupted (its process died) and is due again."""
        query = sa.select(
            deliveries.c.id,
            deliveries.c.edit_requested_at,
            deliveries.c.edit_attempts,
            deliveries.c.edit_reason,
            deliveries.c.edit_text,
            deliveries.c.editing_at,
        ).where(
            deliveries.c.state == DeliveryState.SENT.value,
            deliveries.c.edit_requested_at.is_not(None),
            deliveries.c.retract_requested_at.is_(None),
            sa.or_(deliveries.c.edit_next_at.is_(None), deliveries.c.edit_next_at <= now),
            sa.or_(deliveries.c.editing_at.is_(None), deliveries.c.editing_at < stale),
        )
        if accounts is not None:
            query = query.where(deliveries.c.account.in_(list(accounts)))
        query = query.order_by(deliveries.c.edit_requested_at, deliveries.c.id).limit(limit)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        found = {
            d.id: d
            for d in self._fetch_deliveries(
                self._deliveries_query().where(deliveries.c.id.in_([r.id for r in rows]))
            )
        }
        return [
            DueEdit(
                delivery=found[r.id],
                requested_at=r.edit_requested_at,
                attempts=r.edit_attempts,
                reason=r.edit_reason or "",
                text=r.edit_text,
                interrupted=r.editing_at is not None,
            )
            for r in rows
            if r.id in found
        ]

    def _edit_guard(self, requested_at: datetime) -> list[sa.ColumnElement[bool]]:
        return [deliveries.c.edit_requested_at == requested_at]

    def claim_edit(
        self, edit: DueEdit, at: datetime, *, text: str, stale: datetime, detail: str
    ) -> bool:
        """Take the edit before the network call, with the text it sends; False when
        another process holds it or a newer correction replaced it."""
        guard = [
            *self._edit_guard(edit.requested_at),
            sa.or_(deliveries.c.editing_at.is_(None), deliveries.c.editing_at < stale),
        ]
        with self._tx() as conn:
            return _edit_step(
                conn,
                edit.delivery.id,
                at,
                actor="daemon",
                detail=detail,
                guard=guard,
                editing_at=at,
                edit_text=text,
                edit_attempts=deliveries.c.edit_attempts + 1,
            )

    def mark_edited(self, edit: DueEdit, at: datetime, *, detail: str) -> bool:
        """The network took the text: nothing left to do (unless a newer correction came)."""
        with self._tx() as conn:
            return _edit_step(
                conn,
                edit.delivery.id,
                at,
                actor="daemon",
                detail=detail,
                guard=self._edit_guard(edit.requested_at),
                edit_requested_at=None,
                editing_at=None,
                edit_next_at=None,
                edited_at=at,
            )

    def delay_edit(
        self, edit: DueEdit, at: datetime, *, error: str, next_attempt_at: datetime
    ) -> bool:
        """A retryable error: the edit is due again at ``next_attempt_at``."""
        with self._tx() as conn:
            return _edit_step(
                conn,
                edit.delivery.id,
                at,
                actor="daemon",
                detail=f"edit delayed: {error}",
                guard=self._edit_guard(edit.requested_at),
                editing_at=None,
                edit_next_at=next_attempt_at,
            )

    def fail_edit(self, edit: DueEdit, at: datetime, *, error: str) -> bool:
        """Given up (or the network cannot edit): the post keeps its old text."""
        with self._tx() as conn:
            return _edit_step(
                conn,
                edit.delivery.id,
                at,
                actor="daemon",
                detail=f"not edited: {error}",
                guard=self._edit_guard(edit.requested_at),
                edit_requested_at=None,
                editing_at=None,
                edit_next_at=None,
            )
