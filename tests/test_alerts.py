"""Alerts reach people: a real SMTP server and a webhook double on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time
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
from tests.clitools import autoposter, write_config
from tests.fakes.apiserver import ApiResponse, ApiServer
from tests.feedserver import FeedServer
from tests.smtpserver import smtp_server
from tests.test_health import Daemon, wait_for
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


# --- alerts test, check --online, waiting deliveries, a failed reload -------------------------


def _smtp_block(port: int, password: str = "FAKE-SMTP-PASSWORD", **extra: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": "autoposter",
        "password": password,
        "from": "autoposter@ville.example",
        **extra,
    }


class RefusingHook(ApiServer):
    def __init__(self, status: int) -> None:
        super().__init__()
        self.route("POST", r"/hooks/alerts", lambda r: ApiResponse.json({}, status=status))


def test_alerts_test_tries_every_channel_and_says_which_failed(tmp_path: Path) -> None:
    with (
        smtp_server(username="autoposter", password="FAKE-SMTP-PASSWORD") as (port, mailbox),
        RefusingHook(500) as broken,
        AlertHook() as working,
    ):
        data: dict[str, Any] = {
            "database": "sqlite:///autoposter.db",
            "accounts": {"console": {"type": "console"}},
            "smtp": _smtp_block(port),
            "alerts": {
                "email": ["web@ville.example"],
                "webhook": {"url": broken.url + "/hooks/alerts", "secret": "FAKE-HMAC-KEY"},
            },
        }
        failed = autoposter("alerts", "test", "--config", str(write_config(tmp_path, data)))
        data["alerts"]["webhook"]["url"] = working.url + "/hooks/alerts"
        passed = autoposter("alerts", "test", "--config", str(write_config(tmp_path, data)))
        (request,) = working.requests_to("POST", r"/hooks/alerts")
    assert failed.returncode == 1, failed.stderr
    assert "email    ok: sent to web@ville.example" in failed.stdout
    assert "webhook  FAILED: alert webhook answered HTTP 500" in failed.stdout
    assert passed.returncode == 0, passed.stderr
    assert "webhook  ok" in passed.stdout
    assert json.loads(request.body)["kind"] == "test"
    assert [m["Subject"] for m in mailbox.messages] == ["[autoposter] test alert"] * 2
    assert "FAKE" not in failed.stdout + failed.stderr + passed.stdout + passed.stderr

    data.pop("alerts")
    nowhere = autoposter("alerts", "test", "--config", str(write_config(tmp_path, data)))
    assert nowhere.returncode == 1
    assert "no alert channel is configured" in nowhere.stderr


def test_check_online_logs_into_the_mail_server_and_sends_nothing(tmp_path: Path) -> None:
    with smtp_server(username="autoposter", password="FAKE-SMTP-PASSWORD") as (port, mailbox):
        data: dict[str, Any] = {
            "database": "sqlite:///autoposter.db",
            "accounts": {"console": {"type": "console"}},
            "smtp": _smtp_block(port),
        }
        good = autoposter("check", "--online", "--config", str(write_config(tmp_path, data)))
        # This server stalls after a refused login instead of answering 535.
        data["smtp"] = _smtp_block(port, password="FAKE-WRONG-PASSWORD", timeout="2s")
        bad = autoposter("check", "--online", "--config", str(write_config(tmp_path, data)))
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"mail server:   127.0.0.1:{port} ok: none, logged in as autoposter" in good.stdout
    assert bad.returncode == 1
    assert f"mail server:   127.0.0.1:{port} FAILED: mail server 127.0.0.1:{port}" in bad.stdout
    assert "FAKE-WRONG-PASSWORD" not in bad.stdout + bad.stderr
    assert mailbox.messages == []


def test_deliveries_waiting_for_approval_are_told_once_in_one_alert(
    tmp_path: Path, server: FeedServer
) -> None:
    with smtp_server() as (port, mailbox):
        data: dict[str, Any] = {
            "database": "sqlite:///autoposter.db",
            "dispatch_interval": "1s",
            "defaults": {"language": "fr", "timeout": "5s"},
            "accounts": {"console": {"type": "console", "approval": "required"}},
            "feeds": {
                "actu": {"url": server.url("/feed"), "accounts": ["console"], "poll_interval": "1h"}
            },
            "smtp": {**_smtp_block(port), "username": None, "password": None},
            "alerts": {"email": ["web@ville.example"], "approval_waiting_after": "1s"},
        }
        server.set("/feed", rss(*entries(1)))
        path = str(write_config(tmp_path, data))
        assert autoposter("run", "--once", "--config", path).returncode == 0  # the baseline
        server.set("/feed", rss(*entries(3, 2, 1)))
        assert autoposter("run", "--once", "--config", path).returncode == 0  # 2 held
        time.sleep(1.5)
        daemon = Daemon(tmp_path, data)
        try:
            assert wait_for(lambda: bool(mailbox.messages), 20), "no alert"
            time.sleep(4)  # the check runs every second: nothing new to tell
        finally:
            daemon.stop()
    (message,) = mailbox.messages
    assert message["Subject"] == "[autoposter] 2 deliveries waiting for approval for more than 1 s"
    body = message.get_content()
    assert "Actualité numéro 2" in body
    assert "Actualité numéro 3" in body
    assert "autoposter approve" in body


def test_a_failed_reload_keeps_the_old_config_logs_and_alerts_once(
    tmp_path: Path, server: FeedServer
) -> None:
    server.set("/feed", rss(*entries(1)))
    with smtp_server() as (port, mailbox):
        data: dict[str, Any] = {
            "database": "sqlite:///autoposter.db",
            "dispatch_interval": "1s",
            "accounts": {"console": {"type": "console"}},
            "feeds": {
                "actu": {
                    "url": server.url("/feed"),
                    "accounts": ["console"],
                    "poll_interval": "10s",
                }
            },
            "smtp": {**_smtp_block(port), "username": None, "password": None},
            "alerts": {"email": ["web@ville.example"]},
        }
        daemon = Daemon(tmp_path, data)
        try:
            assert wait_for(lambda: len(server.requests_to("/feed")) >= 1, 20)
            daemon.config.write_text("feeds: [not, a, mapping]\n", encoding="utf-8")
            for _ in range(2):
                daemon.process.send_signal(signal.SIGHUP)
                time.sleep(2)
            assert wait_for(lambda: bool(mailbox.messages), 10), "no alert"
            assert daemon.process.poll() is None  # the old configuration goes on
            daemon.rewrite(data)
            daemon.process.send_signal(signal.SIGHUP)
            time.sleep(2)
        finally:
            _out, err = daemon.stop()
    assert err.count(" error reload-failed ") == 2
    assert err.count("alert kind=reload-failed") == 1
    assert "reloaded feeds=1 accounts=1" in err
    (message,) = mailbox.messages
    assert message["Subject"] == "[autoposter] the configuration could not be reloaded"
    assert "feeds" in message.get_content()
