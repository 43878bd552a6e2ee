"""The daemon as a child process: it posts new items, and stops cleanly on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoposter.storage import Storage
from tests.clitools import ROOT, write_config
from tests.feedserver import FeedServer
from tests.test_pipeline import entries, rss


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def start_daemon(tmp_path: Path, server: FeedServer, *, poll: str = "10s") -> subprocess.Popen[str]:
    path = write_config(
        tmp_path,
        {
            "database": "sqlite:///autoposter.db",
            "dispatch_interval": "1s",
            "defaults": {"language": "fr", "timeout": "10s"},
            "accounts": {"console": {"type": "console"}},
            "feeds": {
                "actu": {"url": server.url("/feed"), "accounts": ["console"], "poll_interval": poll}
            },
        },
    )
    return subprocess.Popen(
        [sys.executable, "-m", "autoposter", "run", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def wait_for(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_poll_finishes_it_and_exits_0(
    tmp_path: Path, server: FeedServer, sig: signal.Signals
) -> None:
    server.set("/feed", rss(*entries(2, 1)), delay=2.0)
    daemon = start_daemon(tmp_path, server)
    try:
        assert wait_for(lambda: server.requests_to("/feed"), 20), "the daemon never polled"
        daemon.send_signal(sig)
        started = time.monotonic()
        _out, err = daemon.communicate(timeout=15)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, err
    assert time.monotonic() - started < 8
    assert "stopping" in err
    assert "stopped" in err
    assert "Traceback" not in err
    # The poll that was in flight completed and was recorded.
    with Storage.open(f"sqlite:///{tmp_path}/autoposter.db") as storage:
        state = storage.feed_state("actu")
    assert state is not None
    assert state.baseline_url == server.url("/feed")


def test_the_daemon_posts_a_new_item(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    daemon = start_daemon(tmp_path, server, poll="10s")
    try:
        assert wait_for(lambda: len(server.requests_to("/feed")) >= 1, 20)
        server.set("/feed", rss(*entries(2, 1)))
        assert wait_for(lambda: len(server.requests_to("/feed")) >= 2, 30), "no second poll"
        time.sleep(2.5)  # one dispatch interval and a margin
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=15)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, err
    assert out.count("│ https://www.ville.example/actu/2") == 1
    assert "/actu/1" not in out
    assert "published account=console" in err
