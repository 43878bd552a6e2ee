"""The stages in order. Only this package knows the order; no stage calls the next.

``poll_feed`` (poll.py): feed state -> conditional fetch -> parse -> which
items are new -> baseline, burst guard, approval, routing -> one transaction
storing the items with their deliveries.

``dispatch_due`` (dispatch.py): due deliveries -> pacing, quiet hours,
blackouts -> render -> claim (``sending`` committed before the network call)
-> publish -> ``sent`` | retry later | ``failed`` | ``unknown``; and
``reconcile`` for deliveries a dead process left in ``sending``.

``retract_due`` (retract.py): decisions settled -> due retractions -> claim
(committed before the network call) -> delete -> ``retracted`` | later |
``retract_failed``.

``edit_due`` (update.py): corrections at the source found by the poll ->
due edits -> render again -> claim (committed before the network call) ->
edit -> done | later | an alert.

Expected failures (a feed down, a network refusing a post) are values in the
results and lines in the log; the other feeds and accounts go on.
"""

from autoposter.pipeline.common import Clock, FeedFetcher, utcnow
from autoposter.pipeline.dispatch import (
    Backoff,
    DispatchResult,
    Pacing,
    can_find,
    dispatch_due,
    reconcile,
    spec_for,
    waiting_for,
)
from autoposter.pipeline.poll import (
    APPROVAL_REQUIRED,
    FeedParser,
    PollResult,
    feed_due,
    needs_approval,
    oldest_first,
    plan,
    poll_feed,
)
from autoposter.pipeline.retract import Retraction, RetractResult, retract_due
from autoposter.pipeline.update import EditAttempt, EditResult, edit_due, is_material

__all__ = [
    "APPROVAL_REQUIRED",
    "Backoff",
    "Clock",
    "DispatchResult",
    "EditAttempt",
    "EditResult",
    "FeedFetcher",
    "FeedParser",
    "Pacing",
    "PollResult",
    "RetractResult",
    "Retraction",
    "can_find",
    "dispatch_due",
    "edit_due",
    "feed_due",
    "is_material",
    "needs_approval",
    "oldest_first",
    "plan",
    "poll_feed",
    "reconcile",
    "retract_due",
    "spec_for",
    "utcnow",
    "waiting_for",
]
