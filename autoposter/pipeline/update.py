"""Items corrected at the source: found after each poll, then edited or alerted on.

After each successful poll that parsed the feed, the items posted within the
feed's ``withdraw_window`` are compared with what the feed now says under the
same key. A *material* change of title or summary (``is_material``) is
decided once per item (the feed's ``on_update``): the stored item takes the
new text (so the same change is never found twice), then ``edit`` records an
edit on each of its sent posts, which ``edit_due`` carries out, and
``alert`` sends one alert; ``ignore`` compares nothing.

``edit_due``, at each dispatch pass: for each due edit of an unpaused
account, oldest decision first: a network that cannot edit (Bluesky, X,
Threads) -> ``fail_edit`` and one alert per item for all such posts; else
render the post again with the writer -> claim it (the text fixed and
``editing_at`` set, committed before the call) -> ``edit`` ->
``mark_edited`` | later again with backoff | ``fail_edit`` and an alert.
An edit is idempotent (the same text twice changes nothing), so one
interrupted by a crash is due again after ``reconcile_after`` and sent again.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from autoposter import logs
from autoposter.alerts import Alert, LogOnly, Notifier
from autoposter.config import Config, FeedConfig
from autoposter.errors import AuthError, PublishError
from autoposter.pipeline.common import Clock, utcnow
from autoposter.pipeline.dispatch import Backoff, _scrubbed, spec_for
from autoposter.storage import DueEdit, KnownText, Storage
from autoposter.storage.items import storage_key
from autoposter.types import EditOutcome, Item, ParsedFeed, Publisher, SentPost

_NO_ALERTS = LogOnly()
_BACKOFF = Backoff()
# Receipts that name no post: a duplicate the network refused without saying which.
_NO_ID = frozenset({"", "duplicate"})
_CANNOT = "this network cannot edit posts"

# Typographic variants a CMS swaps on a re-save without anyone changing a word.
_SPELLINGS = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u02bc": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
    }
)
_TRAILING = re.compile(r"[\s.,;:!?\"'-]+$")


def comparable(text: str) -> str:
    """``text`` as corrections are compared: Unicode compatibility forms folded (NFKC),
    typographic quotes, dashes and ellipses as their plain spelling, whitespace folded,
    case folded, and trailing punctuation dropped."""
    text = unicodedata.normalize("NFKC", text).translate(_SPELLINGS)
    return _TRAILING.sub("", " ".join(text.split()).casefold())


def is_material(old_title: str, old_summary: str, new_title: str, new_summary: str) -> bool:
    """Whether an item's new text is a correction worth editing or telling about.

    Cosmetic, never material: whitespace, letter case ("Conseil municipal" and
    "Conseil Municipal" read the same on a post), entity spelling (the parser
    decodes entities already), typographic quotes and dashes, and punctuation at
    the end (a full stop added to a title). Material: any changed, added or
    removed word, number or inner punctuation ("14 h" -> "15 h", "1,5" -> "15").
    """
    return comparable(old_title) != comparable(new_title) or comparable(old_summary) != comparable(
        new_summary
    )


@dataclass(frozen=True, slots=True)
class Corrected:
    """One item found corrected, and what the feed's ``on_update`` made of it."""

    item: int
    old_title: str
    new_title: str
    action: str


def check_updates(
    feed: FeedConfig,
    parsed: ParsedFeed,
    *,
    storage: Storage,
    alerts: Notifier,
    now: datetime,
) -> list[Corrected]:
    """After a successful poll that parsed the feed: find the posted items it corrected
    and act on them. Cheap: only items with a post sent within ``withdraw_window``."""
    if feed.on_update == "ignore" or not parsed.items:
        return []
    since = now - timedelta(seconds=feed.withdraw_window)
    fresh = {storage_key(i.key): i for i in parsed.items}
    found: list[Corrected] = []
    for known in storage.sent_texts(feed.name, sent_since=since):
        new = fresh.get(known.key)
        if new is None or not is_material(known.title, known.summary, new.title, new.summary):
            continue
        found.append(_decide(feed, known, new, storage, alerts, now))
    return found


def _decide(
    feed: FeedConfig,
    known: KnownText,
    new: Item,
    storage: Storage,
    alerts: Notifier,
    now: datetime,
) -> Corrected:
    reason = f"corrected at the source: {known.title} -> {new.title}"
    logs.event(
        "item-corrected",
        level=logging.WARNING,
        feed=feed.name,
        item=known.id,
        link=known.link,
        action=feed.on_update,
    )
    edit = feed.on_update == "edit"
    # The new text and its edits in one transaction: a change acted on is never found
    # again (so never alerted on twice), and never recorded without its edits.
    storage.correct_item(
        known.id,
        now,
        title=new.title,
        summary=new.summary,
        actor="daemon",
        reason=reason,
        edit=edit,
    )
    if not edit:
        alerts.notify(
            Alert(
                "item-corrected",
                f"corrected on the site: {new.title[:60]}",
                f"The article changed on the site: {known.title} -> {new.title}; "
                f"the posts were not changed.\n  {known.link}\n\n"
                f"(on_update: edit in the feed {feed.name} edits the posts where the "
                f"network allows it.)",
            )
        )
    return Corrected(known.id, known.title, new.title, feed.on_update)


@dataclass(frozen=True, slots=True)
class EditAttempt:
    """What one attempt at one edit came to; ``error`` says why it could not."""

    delivery: int
    account: str
    outcome: EditOutcome
    error: str | None = None


@dataclass(slots=True)
class EditResult:
    """Each attempt of one pass, in order."""

    attempts: list[EditAttempt] = field(default_factory=list)

    def count(self, *outcomes: EditOutcome) -> int:
        return sum(1 for a in self.attempts if a.outcome in outcomes)


def edit_due(
    *,
    config: Config,
    storage: Storage,
    publishers: Mapping[str, Publisher],
    alerts: Notifier = _NO_ALERTS,
    now: Clock = utcnow,
    backoff: Backoff = _BACKOFF,
    limit: int = 100,
) -> EditResult:
    """Carry out the edits that are due, one delivery at a time."""
    result = EditResult()
    stale = now() - timedelta(seconds=config.reconcile_after)
    paused = storage.paused_accounts()
    usable = [name for name in publishers if name not in paused]
    stopped: set[str] = set()  # accounts whose network failed in this pass
    unedited: dict[int, list[tuple[DueEdit, str]]] = {}  # item -> posts left as they were
    for edit in storage.due_edits(now(), stale=stale, limit=limit, accounts=usable):
        account = edit.delivery.account
        if account in stopped:
            continue
        attempt = _edit(edit, publishers[account], config, storage, alerts, now, backoff, stale)
        if attempt.outcome is EditOutcome.CANNOT:
            unedited.setdefault(edit.delivery.item_id, []).append((edit, attempt.error or ""))
        if attempt.outcome in (EditOutcome.RETRY, EditOutcome.PAUSED):
            stopped.add(account)
        result.attempts.append(attempt)
    for posts in unedited.values():
        alerts.notify(_cannot_alert(posts))
    return result


def _edit(
    edit: DueEdit,
    publisher: Publisher,
    config: Config,
    storage: Storage,
    alerts: Notifier,
    now: Clock,
    backoff: Backoff,
    stale: datetime,
) -> EditAttempt:
    delivery = edit.delivery
    fields: dict[str, Any] = {"account": delivery.account, "delivery": delivery.id}

    def cannot(why: str) -> EditAttempt:
        storage.fail_edit(edit, now(), error=why)
        logs.event("edit-impossible", level=logging.WARNING, **fields, why=why)
        return EditAttempt(delivery.id, delivery.account, EditOutcome.CANNOT, why)

    def failed(error: str) -> EditAttempt:
        storage.fail_edit(edit, now(), error=error)
        logs.event("edit-failed", level=logging.ERROR, **fields, error=error)
        alerts.notify(_failed_alert(edit, error))
        return EditAttempt(delivery.id, delivery.account, EditOutcome.FAILED, error)

    remote_id = delivery.remote_id or ""
    if not publisher.can_edit:
        return cannot(_CANNOT)
    if remote_id in _NO_ID:
        return cannot("the network never said which post it was")
    if delivery.text is not None:
        return cannot("its text was written by hand in the console")
    text = edit.text
    if text is None:
        try:
            spec = spec_for(config, delivery.feed, delivery.account, delivery.item)
            text = publisher.render(delivery.item, spec).text
        except Exception as e:
            return failed(f"cannot render: {type(e).__name__}: {e}")
    detail = "interrupted; edited again" if edit.interrupted else f"editing: {edit.reason}"
    if not storage.claim_edit(edit, now(), text=text, stale=stale, detail=detail):
        return EditAttempt(delivery.id, delivery.account, EditOutcome.CLAIMED)
    sent = SentPost(
        account=delivery.account,
        remote_id=remote_id,
        url=delivery.remote_url,
        key=delivery.idempotency_key,
        sent_at=delivery.sent_at,
        link=delivery.item.link,
        title=delivery.item.title,
        reason=edit.reason,
    )
    try:
        publisher.edit(sent, text)
    except PublishError as e:
        return _after_error(edit, _scrubbed(e, config), config, storage, alerts, now, backoff)
    except Exception as e:
        logs.log.exception(
            "publisher-crashed account=%s delivery=%s", delivery.account, delivery.id
        )
        return failed(f"unexpected error in the publisher: {type(e).__name__}: {e}")
    storage.mark_edited(edit, now(), detail=f"edited: {edit.reason}")
    logs.event("edited", **fields, url=delivery.remote_url or remote_id)
    return EditAttempt(delivery.id, delivery.account, EditOutcome.EDITED)


def _after_error(
    edit: DueEdit,
    error: PublishError,
    config: Config,
    storage: Storage,
    alerts: Notifier,
    now: Clock,
    backoff: Backoff,
) -> EditAttempt:
    delivery = edit.delivery
    at = now()
    attempts = edit.attempts + 1
    policy = config.policy(delivery.account)
    fields: dict[str, Any] = {
        "account": delivery.account,
        "delivery": delivery.id,
        "attempt": attempts,
        "error": error.message,
    }
    next_at = at + timedelta(seconds=backoff.delay(policy.retry_delay, attempts, error.retry_after))
    if isinstance(error, AuthError):
        # The edit waits for the account, like its posts and retractions do.
        storage.delay_edit(edit, at, error=error.message, next_attempt_at=next_at)
        if storage.pause_account(delivery.account, error.message, at):
            logs.event("account-paused", level=logging.ERROR, **fields)
            alerts.notify(
                Alert(
                    "account-paused",
                    f"account {delivery.account} paused: {error.message}",
                    f"The network refused the credentials of account {delivery.account}:\n"
                    f"  {error.message}\n\nIts edits wait. Fix the credentials and "
                    f"reload, or run: autoposter account resume {delivery.account}",
                )
            )
        return EditAttempt(delivery.id, delivery.account, EditOutcome.PAUSED, error.message)
    too_late = next_at - edit.requested_at > timedelta(seconds=policy.give_up_after)
    if error.retryable and attempts < policy.max_attempts and not too_late:
        storage.delay_edit(edit, at, error=error.message, next_attempt_at=next_at)
        logs.event("edit-retry", level=logging.WARNING, **fields)
        return EditAttempt(delivery.id, delivery.account, EditOutcome.RETRY, error.message)
    storage.fail_edit(edit, at, error=error.message)
    logs.event("edit-failed", level=logging.ERROR, **fields)
    alerts.notify(_failed_alert(edit, error.message))
    return EditAttempt(delivery.id, delivery.account, EditOutcome.FAILED, error.message)


def _cannot_alert(posts: list[tuple[DueEdit, str]]) -> Alert:
    item = posts[0][0].delivery.item
    lines = "\n".join(
        f"  {e.delivery.account}: {e.delivery.remote_url or e.delivery.remote_id} ({why})"
        for e, why in posts
    )
    return Alert(
        "edit-impossible",
        f"corrected on the site, not edited: {item.title[:60]}",
        f"The article changed on the site ({posts[0][0].reason}).\n  {item.link}\n\n"
        f"These posts still carry the old text:\n{lines}\n\nEdit them by hand, or take "
        f"them back: autoposter retract {item.link}",
    )


def _failed_alert(edit: DueEdit, error: str) -> Alert:
    delivery = edit.delivery
    return Alert(
        "edit-failed",
        f"not edited on {delivery.account}: {delivery.item.title[:60]}",
        f"autoposter could not edit this post on {delivery.account} after a correction "
        f"at the source ({edit.reason}):\n  {delivery.remote_url or delivery.remote_id}\n\n"
        f"{error}\n\nIt still carries the old text: edit it by hand.",
    )
