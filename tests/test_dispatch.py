"""The delivery engine with an injected clock: pacing, quiet hours, blackouts, approval,
pauses, retries, reconciliation. The network is a fake publisher that records what it got."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from autoposter.alerts import Alert
from autoposter.config import Config, parse_config
from autoposter.errors import (
    AuthError,
    BudgetExceededError,
    PublishError,
    RateLimitedError,
    UnavailableError,
)
from autoposter.pipeline import Backoff, dispatch_due, plan, reconcile
from autoposter.storage import NewItem, PlannedDelivery, Storage
from autoposter.types import AccountInfo, DeliveryState, Item, Post, PostSpec, Receipt

# 2026-11-24 is a Tuesday; Paris is UTC+1 in November.
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


class FakeNetwork:
    """Posts go into ``posted``; ``failures`` are raised, one per call, before posting
    (or after posting, for entries marked with ``after``)."""

    kind: ClassVar[str] = "fake"

    def __init__(self, name: str, *, can_find: bool = True) -> None:
        self.name = name
        self.can_find = can_find
        self.posted: dict[str, Receipt] = {}
        self.calls: list[str] = []
        self.finds = 0
        self.failures: list[tuple[BaseException, bool]] = []

    def fail_next(self, error: BaseException, *, after: bool = False) -> None:
        self.failures.append((error, after))

    def render(self, item: Item, spec: PostSpec) -> Post:
        return Post(
            account=self.name,
            text=f"{item.title}\n\n{item.link}",
            link=item.link,
            language=spec.language,
        )

    def publish(self, post: Post, *, key: str) -> Receipt:
        self.calls.append(key)
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None and not failure[1]:
            raise failure[0]
        receipt = Receipt(
            remote_id=f"{len(self.posted) + 1}",
            url=f"https://social.example/{len(self.posted) + 1}",
        )
        self.posted[key] = receipt
        if failure is not None:
            raise failure[0]
        return receipt

    def find(self, post: Post, *, key: str) -> Receipt | None:
        self.finds += 1
        return self.posted.get(key)

    def check(self) -> AccountInfo:
        return AccountInfo(name=self.name)

    def close(self) -> None:
        pass


class Alerts:
    def __init__(self) -> None:
        self.sent: list[Alert] = []

    def notify(self, alert: Alert) -> None:
        self.sent.append(alert)

    def kinds(self) -> list[str]:
        return [a.kind for a in self.sent]


def make_config(
    tmp_path: Path,
    *,
    accounts: dict[str, Any] | None = None,
    feed: dict[str, Any] | None = None,
    **top: Any,
) -> Config:
    data: dict[str, Any] = {
        "database": f"sqlite:///{tmp_path}/autoposter.db",
        "timezone": "Europe/Paris",
        "accounts": accounts or {"a": {"type": "console"}},
        "feeds": {
            "actu": {
                "url": "https://www.ville.example/feed",
                "accounts": list((accounts or {"a": 0}).keys()),
                **(feed or {}),
            }
        },
    }
    data.update(top)
    return parse_config(data, base_dir=tmp_path, environ={})


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    with Storage.open(f"sqlite:///{tmp_path}/autoposter.db") as s:
        yield s


def queue(
    storage: Storage,
    config: Config,
    clock: Clock,
    n: int,
    *,
    urgent: bool = False,
    accounts: tuple[str, ...] = ("a",),
    start: int = 0,
) -> None:
    new = [
        NewItem(
            Item(
                key=f"k{i}",
                link=f"https://www.ville.example/actu/{i}",
                title=f"Actu {i}",
                published=clock() + timedelta(seconds=i),
            ),
            tuple(PlannedDelivery(a, urgent=urgent) for a in accounts),
        )
        for i in range(start, start + n)
    ]
    storage.add_items("actu", "https://www.ville.example/feed", clock(), new, actor="test")


def dispatch(
    config: Config,
    storage: Storage,
    clock: Clock,
    publishers: dict[str, Any],
    alerts: Alerts | None = None,
) -> Any:
    return dispatch_due(
        config=config,
        storage=storage,
        publishers=publishers,
        alerts=alerts or Alerts(),
        now=clock,
        backoff=Backoff(max_delay=600),
    )


def states(storage: Storage) -> list[str]:
    return sorted(storage.delivery_states().values())


def test_pacing_trickles_posts_oldest_first(tmp_path: Path, storage: Storage) -> None:
    config = make_config(tmp_path, delivery={"min_interval": "2m"})
    clock = Clock()
    net = FakeNetwork("a")
    queue(storage, config, clock, 3)
    assert dispatch(config, storage, clock, {"a": net}).sent == 1
    clock.advance(minutes=1)
    assert dispatch(config, storage, clock, {"a": net}).sent == 0
    clock.advance(minutes=1)
    assert dispatch(config, storage, clock, {"a": net}).sent == 1
    clock.advance(minutes=2)
    assert dispatch(config, storage, clock, {"a": net}).sent == 1
    assert [r.link for r in storage.posted()] == [
        f"https://www.ville.example/actu/{i}" for i in range(3)
    ]


def test_hourly_and_daily_caps(tmp_path: Path, storage: Storage) -> None:
    config = make_config(
        tmp_path, delivery={"min_interval": 0, "max_per_hour": 2, "max_per_day": 3}
    )
    clock = Clock()
    net = FakeNetwork("a")
    queue(storage, config, clock, 5)
    assert dispatch(config, storage, clock, {"a": net}).sent == 2
    clock.advance(minutes=59)
    assert dispatch(config, storage, clock, {"a": net}).sent == 0
    clock.advance(minutes=1)
    assert dispatch(config, storage, clock, {"a": net}).sent == 1  # the day's third
    clock.advance(hours=5)
    assert dispatch(config, storage, clock, {"a": net}).sent == 0
    clock.advance(hours=19)
    assert dispatch(config, storage, clock, {"a": net}).sent == 2
    assert len(net.posted) == 5, "capped posts wait; none is dropped"


def test_quiet_hours_hold_posts_until_morning_but_not_urgent_ones(
    tmp_path: Path, storage: Storage
) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0, "quiet_hours": "22:00-07:00"})
    late = Clock(datetime(2026, 11, 24, 22, 30, tzinfo=UTC))  # 23:30 in Paris
    net = FakeNetwork("a")
    queue(storage, config, late, 2)
    queue(storage, config, late, 1, urgent=True, start=10)
    result = dispatch(config, storage, late, {"a": net})
    assert result.sent == 1, "the urgent one (a flood alert) goes at once"
    assert list(net.posted) == [storage.delivery(3).idempotency_key]  # type: ignore[union-attr]
    late.advance(hours=7, minutes=29)  # 06:59 in Paris
    assert dispatch(config, storage, late, {"a": net}).sent == 0
    late.advance(minutes=1)  # 07:00 in Paris
    assert dispatch(config, storage, late, {"a": net}).sent == 2


def test_a_feed_blackout_holds_its_posts(tmp_path: Path, storage: Storage) -> None:
    config = make_config(
        tmp_path,
        delivery={"min_interval": 0},
        feed={
            "blackout": [{"from": "2026-11-24", "to": "2026-11-25", "reason": "réserve électorale"}]
        },
    )
    clock = Clock()
    net = FakeNetwork("a")
    queue(storage, config, clock, 1)
    assert dispatch(config, storage, clock, {"a": net}).sent == 0
    (waiting,) = storage.deliveries_in(DeliveryState.PENDING)
    clock.now = datetime(2026, 11, 25, 22, 59, tzinfo=UTC)  # 23:59 on the 25th in Paris
    assert dispatch(config, storage, clock, {"a": net}).sent == 0
    clock.now = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)  # midnight: the 26th begins
    assert dispatch(config, storage, clock, {"a": net}).sent == 1
    assert waiting.id == storage.posted()[0].delivery


def test_approval_and_urgent_rules_are_planned(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        accounts={"a": {"type": "console"}, "b": {"type": "console", "approval": "required"}},
        feed={"urgent": {"categories": ["Alerte"]}},
    )
    item = Item(key="k", link="https://v.example/crue", title="Crue", categories=("Alerte",))
    a, b = plan(config.feeds["actu"], item, burst=1, config=config)
    assert (a.state, a.urgent) == (DeliveryState.PENDING, True)
    assert (b.state, b.hold_reason) == (DeliveryState.HELD, "approval required")
    burst = plan(config.feeds["actu"], item, burst=9, config=config)
    assert {d.state for d in burst} == {DeliveryState.HELD}
    assert all("burst" in (d.hold_reason or "") for d in burst)


def test_an_auth_failure_pauses_the_account_once_and_nothing_is_lost(
    tmp_path: Path, storage: Storage
) -> None:
    config = make_config(
        tmp_path,
        accounts={"a": {"type": "console"}, "b": {"type": "console"}},
        delivery={"min_interval": 0},
    )
    clock = Clock()
    a, b = FakeNetwork("a"), FakeNetwork("b")
    alerts = Alerts()
    queue(storage, config, clock, 3, accounts=("a", "b"))
    a.fail_next(AuthError("a", "The access token was revoked"))
    result = dispatch(config, storage, clock, {"a": a, "b": b}, alerts)
    assert (result.sent, len(b.posted)) == (3, 3), "the other account goes on"
    assert storage.paused_accounts() == {"a": "The access token was revoked"}
    for _ in range(3):
        clock.advance(hours=1)
        dispatch(config, storage, clock, {"a": a, "b": b}, alerts)
    assert alerts.kinds() == ["account-paused"], "one alert per pause, not one per delivery"
    assert len(a.posted) == 0
    assert states(storage).count("pending") == 3
    storage.resume_account("a", clock())
    assert dispatch(config, storage, clock, {"a": a, "b": b}, alerts).sent == 3


def test_a_network_that_cannot_tell_gets_no_blind_retry(tmp_path: Path, storage: Storage) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0})
    clock = Clock()
    net = FakeNetwork("a", can_find=False)
    alerts = Alerts()
    queue(storage, config, clock, 2)
    net.fail_next(UnavailableError("a", "timed out"), after=True)
    net.fail_next(RateLimitedError("a", "slow down", retry_after=120))
    dispatch(config, storage, clock, {"a": net}, alerts)
    assert states(storage) == ["pending", "unknown"]
    assert alerts.kinds() == ["delivery-unknown"]
    clock.advance(minutes=1)
    assert dispatch(config, storage, clock, {"a": net}, alerts).sent == 0, "Retry-After is honoured"
    clock.advance(minutes=2)
    assert dispatch(config, storage, clock, {"a": net}, alerts).sent == 1
    assert len(net.calls) == 3


def test_before_a_retry_the_network_is_asked(tmp_path: Path, storage: Storage) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0})
    clock = Clock()
    net = FakeNetwork("a")
    queue(storage, config, clock, 1)
    net.fail_next(UnavailableError("a", "connection reset"), after=True)  # posted, answer lost
    assert dispatch(config, storage, clock, {"a": net}).retried == 1
    clock.advance(hours=1)
    assert dispatch(config, storage, clock, {"a": net}).sent == 1
    assert len(net.calls) == 1, "found on the network: not posted twice"
    assert net.finds == 1
    (record,) = storage.posted()
    assert record.remote_url == "https://social.example/1"


def test_retries_give_up_after_max_attempts(tmp_path: Path, storage: Storage) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0, "max_attempts": 3})
    clock = Clock()
    net = FakeNetwork("a")
    alerts = Alerts()
    queue(storage, config, clock, 1)
    for _ in range(5):
        net.fail_next(UnavailableError("a", "HTTP 502"))
        dispatch(config, storage, clock, {"a": net}, alerts)
        clock.advance(hours=1)
    assert len(net.calls) == 3
    assert states(storage) == ["failed"]
    assert alerts.kinds() == ["delivery-failed"]
    assert "HTTP 502" in alerts.sent[0].body


def test_retries_give_up_after_give_up_after(tmp_path: Path, storage: Storage) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0, "give_up_after": "2h"})
    clock = Clock()
    net = FakeNetwork("a")
    queue(storage, config, clock, 1)
    for _ in range(4):
        net.fail_next(UnavailableError("a", "HTTP 503"))
        dispatch(config, storage, clock, {"a": net})
        clock.advance(hours=1)
    assert states(storage) == ["failed"]
    assert len(net.calls) == 3  # at 0 h, 1 h, 2 h; past 2 h it gave up


def test_a_publisher_bug_leaves_the_delivery_for_an_operator(
    tmp_path: Path, storage: Storage
) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0})
    clock = Clock()
    net = FakeNetwork("a")
    queue(storage, config, clock, 2)
    net.fail_next(KeyError("content-type"))
    result = dispatch(config, storage, clock, {"a": net})
    assert (result.unknown, result.sent) == (1, 1)
    (unknown,) = storage.deliveries_in(DeliveryState.UNKNOWN)
    assert "KeyError" in (unknown.last_error or "")


@pytest.mark.parametrize(
    ("can_find", "posted_before_crash", "expected"),
    [(True, True, "sent"), (True, False, "pending"), (False, True, "unknown")],
)
def test_interrupted_sends_are_reconciled(
    tmp_path: Path, storage: Storage, can_find: bool, posted_before_crash: bool, expected: str
) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0, "reconcile_after": "5m"})
    clock = Clock()
    net = FakeNetwork("a", can_find=can_find)
    queue(storage, config, clock, 1)
    (delivery,) = storage.due_deliveries(clock())
    storage.mark_sending(delivery.id, clock(), attempts=0)  # then the process died
    if posted_before_crash:
        net.posted[delivery.idempotency_key] = Receipt("77", "https://social.example/77")
    assert reconcile(config=config, storage=storage, publishers={"a": net}, now=clock) == 0, (
        "too recent: perhaps another process is sending it right now"
    )
    clock.advance(minutes=6)
    assert reconcile(config=config, storage=storage, publishers={"a": net}, now=clock) == 1
    assert states(storage) == [expected]
    if expected == "pending":
        dispatch(config, storage, clock, {"a": net})
        assert net.calls == [delivery.idempotency_key], "sent again with its same key"


def test_operators_retry_and_skip(tmp_path: Path, storage: Storage) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0, "max_attempts": 1})
    clock = Clock()
    net = FakeNetwork("a")
    queue(storage, config, clock, 2)
    net.fail_next(PublishError("a", "refused"))
    net.fail_next(PublishError("a", "refused"))
    dispatch(config, storage, clock, {"a": net})
    first, second = storage.deliveries_in(DeliveryState.FAILED)
    assert storage.retry(first.id, clock(), actor="cli:test")
    assert storage.skip(second.id, clock(), actor="cli:test")
    assert not storage.retry(second.id, clock(), actor="cli:test")
    assert dispatch(config, storage, clock, {"a": net}).sent == 1
    assert net.calls[0] == net.calls[2] == first.idempotency_key
    trail = [
        (e.from_state, e.to_state, e.actor) for e in storage.events() if e.delivery == first.id
    ]
    assert trail == [
        (None, "pending", "test"),
        ("pending", "sending", "daemon"),
        ("sending", "failed", "daemon"),
        ("failed", "pending", "cli:test"),
        ("pending", "sending", "daemon"),
        ("sending", "sent", "daemon"),
    ]


def test_an_account_in_doubt_posts_nothing_else_until_settled(
    tmp_path: Path, storage: Storage
) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0, "retry_delay": "1m"})
    clock = Clock()
    net = FakeNetwork("a")
    queue(storage, config, clock, 3)
    net.fail_next(UnavailableError("a", "timed out"), after=True)  # posted, answer lost
    result = dispatch(config, storage, clock, {"a": net})
    assert (result.sent, result.retried) == (0, 1)
    clock.advance(seconds=30)
    assert dispatch(config, storage, clock, {"a": net}).sent == 0, "the others wait for the doubt"
    clock.advance(minutes=2)
    assert dispatch(config, storage, clock, {"a": net}).sent == 1  # found: settled
    assert dispatch(config, storage, clock, {"a": net}).sent == 2  # then the two others
    assert len(net.calls) == 3
    assert [r.link for r in storage.posted()] == [
        f"https://www.ville.example/actu/{i}" for i in range(3)
    ]


def test_a_delivery_left_sending_holds_its_account_until_reconciled(
    tmp_path: Path, storage: Storage
) -> None:
    config = make_config(
        tmp_path,
        accounts={"a": {"type": "console"}, "b": {"type": "console"}},
        delivery={"min_interval": 0, "reconcile_after": "5m"},
    )
    clock = Clock()
    a, b = FakeNetwork("a"), FakeNetwork("b")
    queue(storage, config, clock, 2, accounts=("a", "b"))
    first = storage.due_deliveries(clock())[0]
    assert first.account == "a"
    storage.mark_sending(first.id, clock(), attempts=0)  # a process died during this call
    assert dispatch(config, storage, clock, {"a": a, "b": b}).sent == 2  # only b's
    clock.advance(minutes=6)
    reconcile(config=config, storage=storage, publishers={"a": a, "b": b}, now=clock)
    assert dispatch(config, storage, clock, {"a": a, "b": b}).sent == 2
    assert states(storage) == ["sent"] * 4


def test_new_credentials_in_the_config_resume_a_paused_account(
    tmp_path: Path, storage: Storage
) -> None:
    from autoposter.runtime import resume_on_new_credentials

    old = make_config(tmp_path, accounts={"a": {"type": "console", "limit": 300}})
    resume_on_new_credentials(old, storage)
    storage.pause_account("a", "token revoked", T0)
    resume_on_new_credentials(old, storage)
    assert storage.paused_accounts() == {"a": "token revoked"}, "same credentials: still paused"
    new = make_config(tmp_path, accounts={"a": {"type": "console", "limit": 400}})
    resume_on_new_credentials(new, storage)
    assert storage.paused_accounts() == {}


def test_a_spent_budget_pauses_the_account_until_it_resets(
    tmp_path: Path, storage: Storage
) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0})
    clock = Clock()
    net = FakeNetwork("a")
    alerts = Alerts()
    queue(storage, config, clock, 2)
    net.fail_next(BudgetExceededError("a", "monthly budget of $20 reached", retry_after=3600))
    assert dispatch(config, storage, clock, {"a": net}, alerts).sent == 0
    clock.advance(minutes=30)
    assert dispatch(config, storage, clock, {"a": net}, alerts).sent == 0
    assert alerts.kinds() == ["budget-reached"]
    clock.advance(minutes=31)
    assert dispatch(config, storage, clock, {"a": net}, alerts).sent == 2
    assert storage.paused_accounts() == {}


def test_a_paused_accounts_backlog_does_not_starve_the_others(
    tmp_path: Path, storage: Storage
) -> None:
    config = make_config(
        tmp_path,
        accounts={"a": {"type": "console"}, "b": {"type": "console"}},
        delivery={"min_interval": 0},
    )
    clock = Clock()
    a, b = FakeNetwork("a"), FakeNetwork("b")
    queue(storage, config, clock, 150, accounts=("a",))
    queue(storage, config, clock, 1, accounts=("b",), start=1000)
    storage.pause_account("a", "token revoked", clock())
    assert dispatch(config, storage, clock, {"a": a, "b": b}).sent == 1
    assert len(b.posted) == 1
    # An account removed from the configuration: the same.
    storage.resume_account("a", clock())
    queue(storage, config, clock, 1, accounts=("b",), start=2000)
    assert dispatch(config, storage, clock, {"b": b}).sent == 1


class CrashingFind(FakeNetwork):
    def find(self, post: Post, *, key: str) -> Receipt | None:
        raise KeyError("content-type")


def test_a_crashing_lookup_stops_neither_dispatch_nor_the_other_accounts(
    tmp_path: Path, storage: Storage
) -> None:
    config = make_config(
        tmp_path,
        accounts={"a": {"type": "console"}, "b": {"type": "console"}},
        delivery={"min_interval": 0, "reconcile_after": "1m", "give_up_after": "2h"},
    )
    clock = Clock()
    a, b = CrashingFind("a"), FakeNetwork("b")
    alerts = Alerts()
    queue(storage, config, clock, 1, accounts=("a",))
    (stale,) = storage.due_deliveries(clock())
    storage.mark_sending(stale.id, clock(), attempts=0)
    clock.advance(minutes=2)
    queue(storage, config, clock, 1, accounts=("b",), start=10)
    publishers = {"a": a, "b": b}
    assert reconcile(config=config, storage=storage, publishers=publishers, now=clock) == 0
    assert dispatch(config, storage, clock, publishers, alerts).sent == 1
    clock.advance(hours=3)
    reconcile(config=config, storage=storage, publishers=publishers, alerts=alerts, now=clock)
    assert storage.delivery(stale.id).state == "unknown"  # type: ignore[union-attr]
    assert alerts.kinds() == ["delivery-unknown"]


def test_an_operator_retry_asks_the_network_first(tmp_path: Path, storage: Storage) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0, "max_attempts": 1})
    clock = Clock()
    net = FakeNetwork("a")
    queue(storage, config, clock, 1)
    net.fail_next(UnavailableError("a", "timed out"), after=True)  # posted, answer lost
    dispatch(config, storage, clock, {"a": net})
    (failed,) = storage.deliveries_in(DeliveryState.FAILED)
    assert storage.retry(failed.id, clock(), actor="cli:test")
    assert dispatch(config, storage, clock, {"a": net}).sent == 1
    assert len(net.calls) == 1, "found on the network, not posted again"


class FailingFind(FakeNetwork):
    def find(self, post: Post, *, key: str) -> Receipt | None:
        raise UnavailableError(self.name, "HTTP 503 on the lookup")


def test_a_lookup_failing_for_ever_ends_unknown_and_alerted(
    tmp_path: Path, storage: Storage
) -> None:
    config = make_config(tmp_path, delivery={"min_interval": 0, "give_up_after": "3h"})
    clock = Clock()
    net = FailingFind("a")
    alerts = Alerts()
    queue(storage, config, clock, 1)
    net.fail_next(UnavailableError("a", "timed out"), after=True)
    dispatch(config, storage, clock, {"a": net}, alerts)
    for _ in range(8):
        clock.advance(hours=1)
        dispatch(config, storage, clock, {"a": net}, alerts)
    assert states(storage) == ["unknown"]
    assert alerts.kinds() == ["delivery-unknown"]
    assert len(net.calls) == 1


def test_pacing_survives_a_clock_set_back() -> None:
    from autoposter.policy import DeliveryPolicy, pacing_until

    now = T0
    in_the_future = [now + timedelta(days=300)]
    until = pacing_until(now, in_the_future, DeliveryPolicy(min_interval=120))
    assert until == now + timedelta(seconds=120)
