"""When a delivery may go out: pacing, quiet hours, blackouts, approval, retries.

Data and pure decisions over an explicit ``now``; standard library only. The
pipeline asks these questions; storage supplies the history they need.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

DEFAULT_MIN_INTERVAL = 120.0
DEFAULT_MAX_ATTEMPTS = 12
DEFAULT_GIVE_UP_AFTER = 86400.0
DEFAULT_RECONCILE_AFTER = 300.0
DEFAULT_RETRY_DELAY = 60.0


class WaitReason(enum.StrEnum):
    """Why a delivery that is not sent yet waits."""

    APPROVAL = "approval"  # held: a person approves or rejects it
    PAUSED = "paused"  # its account is paused (credentials, budget, an operator)
    RETRY = "retry"  # an attempt failed; the next one is scheduled
    QUIET_HOURS = "quiet-hours"
    BLACKOUT = "blackout"
    PACING = "pacing"  # the account posted too recently
    LATER = "later"  # scheduled later by an earlier pass (another delivery's retry)


@dataclass(frozen=True, slots=True)
class Wait:
    """Why a delivery waits, and until when (None: until a person acts).

    ``detail`` is the rule or the error in words: "quiet hours 22:00-07:00", the
    account's pause reason, the network's error.
    """

    reason: WaitReason
    until: datetime | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window, in the institution's timezone, with no posts: "22:00-07:00"."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def ends_after(self, now: datetime, tz: tzinfo) -> datetime | None:
        """When the quiet window containing ``now`` ends, or None if ``now`` is outside it."""
        local = now.astimezone(tz)
        clock = local.time().replace(tzinfo=None)
        if self.start <= self.end:
            inside = self.start <= clock < self.end
            end_day = local.date()
        else:  # crosses midnight
            inside = clock >= self.start or clock < self.end
            end_day = local.date() + timedelta(days=1) if clock >= self.start else local.date()
        if not inside:
            return None
        return datetime.combine(end_day, self.end, tzinfo=tz)


@dataclass(frozen=True, slots=True)
class Blackout:
    """A period with no posts at all, such as an electoral reserve; ``end`` is exclusive."""

    start: datetime
    end: datetime
    reason: str = ""

    def ends_after(self, now: datetime) -> datetime | None:
        return self.end if self.start <= now < self.end else None


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """An account's (or the defaults') rules for sending."""

    min_interval: float = DEFAULT_MIN_INTERVAL
    max_per_hour: int | None = None
    max_per_day: int | None = None
    quiet_hours: QuietHours | None = None
    blackouts: tuple[Blackout, ...] = ()
    approval: bool = False
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    give_up_after: float = DEFAULT_GIVE_UP_AFTER
    retry_delay: float = DEFAULT_RETRY_DELAY


@dataclass(frozen=True, slots=True)
class Window:
    """A feed's own quiet hours and blackouts, added to its accounts'."""

    quiet_hours: QuietHours | None = None
    blackouts: tuple[Blackout, ...] = ()


def closed_until(
    now: datetime, tz: tzinfo, windows: Iterable[Window | DeliveryPolicy]
) -> tuple[datetime, str] | None:
    """If ``now`` falls in a quiet window or a blackout, when all of them are over and why.

    Windows can chain (a blackout ending inside quiet hours), so the answer is
    the first moment that is in none of them.
    """
    windows = list(windows)
    moment, reasons = now, []
    for _ in range(64):  # each step moves past one window; 64 is far more than any config
        step: tuple[datetime, str] | None = None
        for w in windows:
            if w.quiet_hours is not None:
                end = w.quiet_hours.ends_after(moment, tz)
                if end is not None and (step is None or end > step[0]):
                    step = (end, f"quiet hours {w.quiet_hours}")
            for b in w.blackouts:
                end = b.ends_after(moment)
                if end is not None and (step is None or end > step[0]):
                    step = (end, f"blackout: {b.reason}" if b.reason else "blackout")
        if step is None:
            break
        moment = step[0]
        reasons.append(step[1])
    if moment == now:
        return None
    return moment, "; ".join(dict.fromkeys(reasons))


def pacing_until(
    now: datetime, sent: Sequence[datetime], policy: DeliveryPolicy
) -> datetime | None:
    """When the account may post again, given when it posted in the last day; None if now.

    ``sent`` holds the account's send times of the last 24 hours, any order.
    """
    if not sent:
        return None
    # A send time in the future (the clock was set back) counts as now, so an account
    # is never frozen until a date that may be a year away.
    ordered = sorted(min(t, now) for t in sent)
    candidates = [ordered[-1] + timedelta(seconds=policy.min_interval)]
    for limit, span in (
        (policy.max_per_hour, timedelta(hours=1)),
        (policy.max_per_day, timedelta(days=1)),
    ):
        if limit is None:
            continue
        recent = [t for t in ordered if t > now - span]
        if len(recent) >= limit:
            # The oldest post in the span must leave it before another can go.
            candidates.append(recent[len(recent) - limit] + span)
    until = max(candidates)
    return until if until > now else None
