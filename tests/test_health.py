"""/healthz and /metrics over real HTTP, systemd's notifications, and reload on SIGHUP.

The daemon runs as a child process, as systemd or a container runs it, and is
stopped with SIGTERM; it must exit 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from autoposter.errors import StorageError
from autoposter.health import Health, HealthServer
from autoposter.metrics import Metrics
from autoposter.pipeline import PollResult
from autoposter.types import Attempt, DeliveryOutcome, PollStatus
from tests.clitools import ROOT, write_config
from tests.feedserver import FeedServer
from tests.test_pipeline import entries, rss


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics answer by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


class Daemon:
    def __init__(self, folder: Path, data: dict[str, Any], env: dict[str, str] | None = None):
        self.folder = folder
        self.data = data
        self.config = write_config(folder, data)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autoposter", "run", "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )

    def rewrite(self, data: dict[str, Any]) -> None:
        self.config = write_config(self.folder, data)

    def stop(self) -> tuple[str, str]:
        """SIGTERM, then what it printed; it must exit 0."""
        try:
            self.process.send_signal(signal.SIGTERM)
            out, err = self.process.communicate(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        assert self.process.returncode == 0, err
        return out, err


def config(server: FeedServer, port: int, **extra: Any) -> dict[str, Any]:
    return {
        "database": "sqlite:///autoposter.db",
        "dispatch_interval": "1s",
        "defaults": {"language": "fr", "timeout": "10s"},
        "http": {"listen": f"127.0.0.1:{port}"},
        "accounts": {"console": {"type": "console"}},
        "feeds": {
            "actu": {"url": server.url("/feed"), "accounts": ["console"], "poll_interval": "10s"}
        },
        **extra,
    }


def test_healthz_and_metrics_over_http(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    daemon = Daemon(tmp_path, config(server, port))
    try:
        assert wait_for(lambda: _status(f"{base}/healthz") == 200, 20), "never healthy"
        status, body = get(f"{base}/healthz")
        assert json.loads(body) == {"status": "ok", "scheduler": "ok", "database": "ok"}
        assert wait_for(lambda: len(server.requests_to("/feed")) >= 1, 20)
        server.set("/feed", rss(*entries(2, 1)))
        assert wait_for(lambda: len(server.requests_to("/feed")) >= 2, 30), "no second poll"

        def published() -> bool:
            return (
                value(
                    get(f"{base}/metrics")[1],
                    "autoposter_deliveries",
                    account="console",
                    state="sent",
                )
                == 1
            )

        assert wait_for(published, 10), get(f"{base}/metrics")[1]

        def unchanged_counted() -> bool:
            text = get(f"{base}/metrics")[1]
            return (
                value(text, "autoposter_polls_total", feed="actu", status="not-modified") or 0
            ) > 0

        # The next poll finds the feed unchanged: counted, though not printed at info level.
        assert wait_for(unchanged_counted, 30), get(f"{base}/metrics")[1]
        status, text = get(f"{base}/metrics")
        assert status == 200
        assert get(f"{base}/nothing")[0] == 404
    finally:
        _out, err = daemon.stop()
    assert "Traceback" not in err
    assert "status=not-modified" not in err
    polls = samples(text)
    assert polls[("autoposter_polls_total", (("feed", "actu"), ("status", "baseline")))] == 1
    assert polls[("autoposter_polls_total", (("feed", "actu"), ("status", "new")))] >= 1
    assert value(text, "autoposter_items_seen_total", feed="actu", kind="baseline") == 1
    assert value(text, "autoposter_items_seen_total", feed="actu", kind="new") == 1
    assert (
        value(text, "autoposter_delivery_events_total", account="console", event="published") == 1
    )
    assert value(text, "autoposter_publish_duration_seconds_count", account="console") == 1
    assert value(text, "autoposter_poll_duration_seconds_count") == sum(
        v for (name, _), v in polls.items() if name == "autoposter_polls_total"
    )
    last = value(text, "autoposter_feed_last_success_timestamp_seconds", feed="actu")
    assert last is not None
    assert abs(last - time.time()) < 120
    assert value(text, "autoposter_feed_failures", feed="actu") == 0
    assert value(text, "autoposter_feed_items", feed="actu") == 2
    assert value(text, "autoposter_deliveries", account="console", state="pending") == 0
    assert value(text, "autoposter_account_paused", account="console") == 0
    assert value(text, "autoposter_database_up") == 1
    assert (value(text, "autoposter_scheduler_heartbeat_timestamp_seconds") or 0) > 0


def _status(url: str) -> int | None:
    try:
        return get(url)[0]
    except OSError:
        return None


def test_poll_errors_are_counted(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", b"", status=500)
    port = free_port()
    daemon = Daemon(tmp_path, config(server, port))
    try:
        assert wait_for(lambda: len(server.requests_to("/feed")) >= 1, 20)

        def counted() -> bool:
            text = get(f"http://127.0.0.1:{port}/metrics")[1]
            return value(text, "autoposter_poll_errors_total", feed="actu") == 1

        assert wait_for(counted, 10)
        text = get(f"http://127.0.0.1:{port}/metrics")[1]
    finally:
        daemon.stop()
    assert value(text, "autoposter_polls_total", feed="actu", status="error") == 1
    assert value(text, "autoposter_feed_failures", feed="actu") == 1
    assert value(text, "autoposter_feed_last_success_timestamp_seconds", feed="actu") is None


def test_systemd_hears_ready_watchdog_and_stopping(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    address = str(tmp_path / "notify.sock")
    messages: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(0.2)
        # A 1.5 s watchdog: the heartbeat comes every 0.5 s.
        env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1500000"}
        daemon = Daemon(tmp_path, config(server, free_port()), env=env)

        def heard(what: str, count: int = 1) -> Callable[[], bool]:
            def check() -> bool:
                with contextlib.suppress(TimeoutError):
                    messages.extend(listener.recv(4096).decode().splitlines())
                return sum(1 for m in messages if m == what) >= count

            return check

        try:
            assert wait_for(heard("READY=1"), 20), messages
            assert wait_for(heard("WATCHDOG=1", 3), 10), messages
            daemon.process.send_signal(signal.SIGHUP)
            assert wait_for(heard("RELOADING=1"), 10), messages
            assert wait_for(heard("READY=1", 2), 10), messages
        finally:
            daemon.stop()
        assert wait_for(heard("STOPPING=1"), 5), messages
    assert messages.index("READY=1") < messages.index("WATCHDOG=1")


def test_sighup_applies_new_feeds_and_accounts_without_a_restart(
    tmp_path: Path, server: FeedServer
) -> None:
    server.set("/feed", rss(*entries(1)))
    server.set("/other", rss(*entries(1, prefix="o")))
    port = free_port()
    data = config(server, port)
    daemon = Daemon(tmp_path, data)
    try:
        assert wait_for(lambda: len(server.requests_to("/feed")) >= 1, 20)
        # A second account, and a second feed posting to it.
        data["accounts"]["town"] = {"type": "console", "limit": 80}
        data["feeds"]["other"] = {
            "url": server.url("/other"),
            "accounts": ["town"],
            "poll_interval": "10s",
        }
        daemon.rewrite(data)
        daemon.process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: len(server.requests_to("/other")) >= 1, 20), "new feed not polled"
        server.set("/other", rss(*entries(2, 1, prefix="o")))
        assert wait_for(lambda: len(server.requests_to("/other")) >= 2, 30)
        # A broken file is refused; the daemon goes on with what it had.
        daemon.config.write_text("feeds: [not, a, mapping]\n", encoding="utf-8")
        daemon.process.send_signal(signal.SIGHUP)
        time.sleep(3)
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        text = get(f"http://127.0.0.1:{port}/metrics")[1]
    finally:
        out, err = daemon.stop()
    assert "reloaded feeds=2 accounts=2" in err
    assert "│ town · fr" in out  # the new account posted the new feed's item
    assert "reload-failed" in err
    assert value(text, "autoposter_config_reloads_total", result="ok") == 1
    assert value(text, "autoposter_config_reloads_total", result="failed") == 1
    assert value(text, "autoposter_delivery_events_total", account="town", event="published") == 1


# --- the listener alone, for the unhealthy answers ------------------------------------------


class _Storage:
    def __init__(self) -> None:
        self.error: str | None = None

    def ping(self) -> None:
        if self.error:
            raise StorageError(self.error)


def test_healthz_says_503_and_why(tmp_path: Path) -> None:
    storage = _Storage()
    running = [True]
    health = Health(lambda: storage, lambda: running[0], max_silence=0.5)  # type: ignore[arg-type,return-value]
    with HealthServer("127.0.0.1", 0, health) as listener:
        url = f"http://127.0.0.1:{listener.port}/healthz"
        status, body = get(url)
        assert status == 503
        assert json.loads(body)["scheduler"] == "starting: no heartbeat yet"
        health.beat()
        assert get(url)[0] == 200
        storage.error = "database sqlite:////x.db: OperationalError: disk I/O error"
        status, body = get(url)
        assert status == 503
        assert "disk I/O error" in json.loads(body)["database"]
        storage.error = None
        time.sleep(0.7)
        status, body = get(url)
        assert status == 503
        assert json.loads(body)["scheduler"].startswith("stalled: no heartbeat for")
        health.beat()
        running[0] = False
        assert json.loads(get(url)[1]) == {
            "status": "unhealthy",
            "scheduler": "not running",
            "database": "ok",
        }
        assert get(f"http://127.0.0.1:{listener.port}/metrics")[0] == 404  # no metrics given


def test_metrics_answer_when_the_database_does_not() -> None:
    def broken() -> Any:
        raise StorageError("database is gone")

    metrics = Metrics(broken, lambda: ["console"])
    metrics.polled(PollResult("actu", PollStatus.NEW, items=2, new=2, seconds=0.012))
    metrics.attempted(Attempt(1, "console", DeliveryOutcome.PAUSED))
    text = metrics.exposition().decode()
    assert value(text, "autoposter_database_up") == 0
    assert value(text, "autoposter_items_seen_total", feed="actu", kind="new") == 2


def test_a_port_in_use_is_a_configuration_error(tmp_path: Path) -> None:
    from autoposter.errors import ConfigError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        health = Health(_Storage, lambda: True, max_silence=1)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"http\.listen: cannot listen on 127\.0\.0\.1"):
            HealthServer("127.0.0.1", port, health).start()
