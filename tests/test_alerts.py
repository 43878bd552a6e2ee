"""Alerts reach people: a real SMTP server and a webhook double on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from autoposter.alerts import SIGNATURE_HEADER, Alert, Alerter
from autoposter.config import Config, parse_config
from autoposter.fetch import Fetcher
from autoposter.parsepool import ParserPool
from autoposter.pipeline import poll_feed
from autoposter.storage import Storage
from tests.fakes.apiserver import ApiResponse, ApiServer
from tests.feedserver import FeedServer
from tests.smtpserver import smtp_server
from tests.test_pipeline import entries, rss


def config_with(tmp_path: Path, **top: Any) -> Config:
    data: dict[str, Any] = {
        "database": f"sqlite:///{tmp_path}/autoposter.db",
        "accounts": {"console": {"type": "console"}},
    }
    data.update(top)
    return parse_config(data, base_dir=tmp_path, environ={})


def test_an_alert_arrives_by_mail(tmp_path: Path) -> None:
    with smtp_server(username="autoposter", password="FAKE-SMTP-PASSWORD") as (port, mailbox):
        config = config_with(
            tmp_path,
            smtp={
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "username": "autoposter",
                "password": "FAKE-SMTP-PASSWORD",
                "from": "autoposter@ville.example",
            },
            alerts={"email": ["web@ville.example", "dircom@ville.example"]},
        )
        alerter = Alerter(config)
        alerter.notify(
            Alert("account-paused", "account ville_mastodon paused: token revoked", "Fix it.")
        )
        alerter.close()
        assert mailbox.arrived.wait(5)
    (message,) = mailbox.messages
    assert message["Subject"] == "[autoposter] account ville_mastodon paused: token revoked"
    assert message["From"] == "autoposter@ville.example"
    assert mailbox.envelopes[0][1] == ["web@ville.example", "dircom@ville.example"]
    assert "Fix it." in message.get_content()
    assert message["Auto-Submitted"] == "auto-generated"


def test_a_mail_failure_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with smtp_server(username="autoposter", password="FAKE-RIGHT") as (port, mailbox):
        config = config_with(
            tmp_path,
            smtp={
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "username": "autoposter",
                "password": "FAKE-WRONG-PASSWORD",
                "from": "autoposter@ville.example",
                # This server stalls after a refused login instead of answering 535.
                "timeout": "2s",
            },
            alerts={"email": ["web@ville.example"]},
        )
        alerter = Alerter(config)
        alerter.notify(Alert("delivery-failed", "x", "y"))
        alerter.close()
    assert mailbox.messages == []
    failures = [r for r in caplog.records if r.getMessage() == "alert-not-sent"]
    assert len(failures) == 1
    assert f"mail server 127.0.0.1:{port}" in failures[0].fields["error"]  # type: ignore[attr-defined]
    assert "FAKE-WRONG-PASSWORD" not in caplog.text


class AlertHook(ApiServer):
    def __init__(self) -> None:
        super().__init__()
        self.route("POST", r"/hooks/alerts", lambda r: ApiResponse.json({"ok": True}))


def test_an_alert_is_posted_to_a_signed_webhook(tmp_path: Path) -> None:
    with AlertHook() as hook:
        config = config_with(
            tmp_path,
            alerts={"webhook": {"url": hook.url + "/hooks/alerts", "secret": "FAKE-HMAC-KEY"}},
        )
        alerter = Alerter(config)
        alerter.notify(Alert("burst-held", "12 new items at once in actu: held", "body"))
        alerter.close()
        (request,) = hook.requests_to("POST", r"/hooks/alerts")
    expected = hmac.new(b"FAKE-HMAC-KEY", request.body, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER.lower()] == f"sha256={expected}"
    data = json.loads(request.body)
    assert data["kind"] == "burst-held"
    assert data["subject"] == "[autoposter] 12 new items at once in actu: held"


class Recorder:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def notify(self, alert: Alert) -> None:
        self.alerts.append(alert)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def test_a_feed_failing_for_long_is_told_once_per_streak(
    tmp_path: Path, server: FeedServer
) -> None:
    server.set("/feed", b"", status=500)
    config = config_with(
        tmp_path,
        feeds={
            "actu": {"url": server.url("/feed"), "accounts": ["console"], "poll_interval": "10m"}
        },
        alerts={"feed_failing_after": "1h"},
    )
    now = [datetime(2026, 11, 24, 8, 0, tzinfo=UTC)]
    recorder = Recorder()
    with Storage.open(config.database) as storage, Fetcher() as fetcher:

        def poll() -> str:
            result = poll_feed(
                config.feeds["actu"],
                config=config,
                storage=storage,
                fetcher=fetcher,
                parser=ParserPool(workers=0),
                alerts=recorder,
                now=lambda: now[0],
                force=True,
            )
            now[0] += timedelta(minutes=20)
            return result.status

        for _ in range(8):  # 2 h 40 min of failures
            assert poll() == "error"
        assert [a.kind for a in recorder.alerts] == ["feed-failing"]
        assert "since 2026-11-24 08:00" in recorder.alerts[0].subject
        server.set("/feed", rss(*entries(1)))
        assert poll() == "baseline"
        server.set("/feed", b"", status=503)
        for _ in range(5):
            poll()
        assert [a.kind for a in recorder.alerts] == ["feed-failing", "feed-failing"]


def test_a_burst_is_told(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    config = config_with(
        tmp_path,
        feeds={"actu": {"url": server.url("/feed"), "accounts": ["console"], "burst_limit": 2}},
    )
    recorder = Recorder()
    with Storage.open(config.database) as storage, Fetcher() as fetcher:
        for body in (rss(*entries(1)), rss(*entries(5, 4, 3, 2, 1))):
            server.set("/feed", body)
            poll_feed(
                config.feeds["actu"],
                config=config,
                storage=storage,
                fetcher=fetcher,
                parser=ParserPool(workers=0),
                alerts=recorder,
                force=True,
            )
    (alert,) = recorder.alerts
    assert alert.kind == "burst-held"
    assert "4 new items at once in actu" in alert.subject
