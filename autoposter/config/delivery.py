"""The delivery engine's rules: the ``delivery:`` section, the same keys in an account
block, and the quiet hours, blackouts and approval a feed may add."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any

from autoposter.config.fields import QUIET, check_keys, describe, index, join, show
from autoposter.config.reader import Field, Reader, duration, number
from autoposter.errors import ConfigError
from autoposter.policy import DEFAULT_RECONCILE_AFTER, Blackout, DeliveryPolicy, QuietHours

__all__ = ["DELIVERY_KEYS", "POLICY_KEYS", "approval", "blackouts", "delivery", "policy"]


def quiet_hours(reader: Reader, value: object, key: str) -> QuietHours | None:
    if value is None:
        return None
    text = reader.string(value, key, 'a daily window such as "22:00-07:00"')
    match = QUIET.fullmatch(text.strip())
    if match is None:
        raise ConfigError(key, f'expected a daily window such as "22:00-07:00", got {show(text)}')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    quiet = QuietHours(time(h1, m1), time(h2, m2))
    if quiet.start == quiet.end:
        raise ConfigError(key, "the window starts and ends at the same time")
    return quiet


def blackouts(reader: Reader, value: object, key: str) -> tuple[Blackout, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(
            key, "expected a list of periods such as [{from: 2026-03-01, to: 2026-03-15}]"
        )
    periods = []
    for i, entry in enumerate(value):
        at = index(key, i)
        block = reader.mapping(entry, at, "'from', 'to' and optionally 'reason'")
        check_keys(block, at, ("from", "to", "reason"))
        for needed in ("from", "to"):
            if needed not in block:
                raise ConfigError(join(at, needed), "missing; give a date such as 2026-03-01")
        start = _moment(reader, block["from"], join(at, "from"), end=False)
        end = _moment(reader, block["to"], join(at, "to"), end=True)
        if end <= start:
            raise ConfigError(join(at, "to"), "the period ends before it starts")
        reason = ""
        if block.get("reason") is not None:
            reason = reader.string(block["reason"], join(at, "reason"), "a short text")
        periods.append(Blackout(start=start, end=end, reason=reason))
    return tuple(periods)


def _moment(reader: Reader, value: object, key: str, *, end: bool) -> datetime:
    """A date (the whole day, in the configured time zone) or a date and time."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value + timedelta(days=1) if end else value, time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ConfigError(
                key,
                f"expected a date such as 2026-03-01 or 2026-03-01 18:00, got {show(value)}",
            ) from None
        if len(value.strip()) == 10:
            moment = moment + timedelta(days=1) if end else moment
    else:
        raise ConfigError(key, f"expected a date such as 2026-03-01, got {describe(value)}")
    return moment.replace(tzinfo=reader.tz) if moment.tzinfo is None else moment


def approval(reader: Reader, value: object, key: str) -> bool:
    if value is None:
        return False
    if value in ("required", "none"):
        return value == "required"
    raise ConfigError(key, f"expected 'required' or 'none', got {describe(value)}")


# Keys of the delivery engine, accepted in `delivery:` and in every account block
# (where they are taken out before the publisher sees its options).
_POLICY = MappingProxyType(
    {
        "min_interval": Field("min_interval", duration(0.0)),
        "max_per_hour": Field(
            "max_per_hour", number("a number of posts", minimum=1, optional=True)
        ),
        "max_per_day": Field("max_per_day", number("a number of posts", minimum=1, optional=True)),
        "quiet_hours": Field("quiet_hours", quiet_hours),
        "blackout": Field("blackouts", blackouts),
        "approval": Field("approval", approval),
        "max_attempts": Field("max_attempts", number("a number", minimum=1)),
        "give_up_after": Field("give_up_after", duration(60.0)),
        "retry_delay": Field("retry_delay", duration(1.0)),
    }
)
POLICY_KEYS = tuple(_POLICY)
DELIVERY_KEYS = (*POLICY_KEYS, "reconcile_after")


def policy(
    reader: Reader, block: dict[str, Any], path: str, base: DeliveryPolicy
) -> DeliveryPolicy:
    """``base`` with the policy keys of ``block`` applied."""
    return reader.fields(block, path, _POLICY, base)


def delivery(reader: Reader, value: object) -> tuple[DeliveryPolicy, float]:
    """The ``delivery:`` section: the default policy, and ``reconcile_after`` in seconds."""
    block = reader.optional_mapping(value, "delivery", "settings")
    check_keys(block, "delivery", DELIVERY_KEYS)
    defaults = policy(reader, block, "delivery", DeliveryPolicy())
    reconcile_after = DEFAULT_RECONCILE_AFTER
    if "reconcile_after" in block:
        reconcile_after = reader.duration(
            block["reconcile_after"], "delivery.reconcile_after", 1.0, None
        )
    return defaults, reconcile_after
