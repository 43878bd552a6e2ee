"""A real console for the web tests: a feed file, a database filled by real polls,
users, and ``autoposter web`` (and, when asked, ``autoposter run``) as processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import httpx

from autoposter import app
from autoposter.config import Config, load_config
from tests.clitools import write_config

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "fake-password-for-tests"


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    summary: str = "Une actualité de la ville."


BASELINE = [Article("ancienne", "Un article déjà publié")]


def feed_xml(articles: Sequence[Article]) -> str:
    items = "".join(
        f"<item><title>{escape(a.title)}</title>"
        f"<link>https://www.ville.example/actu/{a.slug}</link>"
        f"<guid isPermaLink='false'>{a.slug}</guid>"
        f"<pubDate>Tue, 24 Nov 2026 09:{i:02d}:00 +0100</pubDate>"
        f"<description>{escape(a.summary)}</description></item>"
        for i, a in enumerate(articles)
    )
    return (
        "<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel>"
        "<title>Ville</title><link>https://www.ville.example/</link>"
        f"<language>fr-FR</language>{items}</channel></rss>"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@dataclass
class Site:
    folder: Path
    config_path: Path
    url: str

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    def publish(self, articles: Sequence[Article]) -> None:
        """The site's feed now lists the baseline and ``articles``; one poll reads it."""
        (self.folder / "feed.xml").write_text(feed_xml([*articles, *BASELINE]), "utf-8")
        app.run_cycle(self.config, parse_workers=0)

    def states(self) -> list[str]:
        from autoposter.storage import Storage

        with Storage.open(self.config.database) as storage:
            return sorted(storage.delivery_states().values())


def make_site(
    folder: Path,
    *,
    accounts: dict[str, Any] | None = None,
    feed: dict[str, Any] | None = None,
    web: dict[str, Any] | None = None,
    users: Sequence[tuple[str, str]] = (("marie", "editor"), ("victor", "viewer")),
) -> Site:
    """A configuration with one feed (approval required) read from a file, its baseline
    polled, and ``users`` (name, role) with PASSWORD."""
    port = free_port()
    accounts = accounts or {"console": {"type": "console"}}
    (folder / "feed.xml").write_text(feed_xml(BASELINE), "utf-8")
    path = write_config(
        folder,
        {
            "database": "sqlite:///autoposter.db",
            "timezone": "Europe/Paris",
            "dispatch_interval": "1s",
            "defaults": {"language": "fr"},
            "delivery": {"min_interval": "0s"},
            "accounts": accounts,
            "feeds": {
                "actu": {
                    "url": "file:feed.xml",
                    "accounts": list(accounts),
                    "approval": "required",
                    **(feed or {}),
                }
            },
            "web": {"listen": f"127.0.0.1:{port}", **(web or {})},
        },
    )
    site = Site(folder, path, f"http://127.0.0.1:{port}")
    app.run_cycle(site.config, parse_workers=0)
    for name, role in users:
        app.add_user(site.config, name, PASSWORD, role, actor="test")
    return site


@contextmanager
def process(site: Site, command: str) -> Iterator[subprocess.Popen[str]]:
    """``autoposter COMMAND --config ...`` running; for ``web``, until it answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoposter", command, "--config", str(site.config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=site.folder,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        if command == "web":

            def answers() -> bool:
                try:
                    return httpx.get(site.url + "/login", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            assert wait_for(answers, 20), proc.stderr.read() if proc.poll() is not None else ""
        yield proc
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=10)
