"""The ``autoposter`` command, run in a child process as a user runs it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clitools import autoposter, write_config
from tests.feedserver import FeedServer
from tests.test_pipeline import entries, rss


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def site_config(tmp_path: Path, server: FeedServer, **feed: Any) -> Path:
    return write_config(
        tmp_path,
        {
            "database": "sqlite:///autoposter.db",
            "timezone": "Europe/Paris",
            "defaults": {"language": "fr", "timeout": "2s"},
            "accounts": {"console": {"type": "console"}, "ville_mastodon": {"type": "console"}},
            "feeds": {
                "actualites": {
                    "url": server.url("/feed"),
                    "accounts": ["console", "ville_mastodon"],
                    "hashtags": ["vie locale"],
                    "template": "{title} {hashtags}\n\n{link}",
                    **feed,
                }
            },
        },
    )


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["run"],
        ["check"],
        ["backfill"],
        ["status"],
        ["preview"],
        ["approve"],
        ["reject"],
        ["demo"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = autoposter(*command, "--help")
    assert result.returncode == 0
    assert "Usage:" in result.stdout


def test_usage_errors_exit_2() -> None:
    assert autoposter("no-such-command").returncode == 2
    assert autoposter("run", "--no-such-option").returncode == 2


@pytest.mark.parametrize(
    ("feeds_block", "expected"),
    [
        (
            {"actualites": {"url": "https://v.example/feed", "accounts": ["console", "bsky"]}},
            "feeds.actualites.accounts[1]: unknown account 'bsky'",
        ),
        (
            {
                "actualites": {
                    "url": "https://v.example/feed",
                    "accounts": ["console"],
                    "pol_interval": "5m",
                }
            },
            "feeds.actualites.pol_interval",
        ),
        (
            {
                "actualites": {
                    "url": "https://v.example/feed",
                    "accounts": ["console"],
                    "poll_interval": "often",
                }
            },
            "feeds.actualites.poll_interval",
        ),
        ({"actualites": {"url": "/etc/passwd", "accounts": ["console"]}}, "feeds.actualites.url"),
    ],
)
def test_config_errors_name_the_key_and_exit_2(
    tmp_path: Path, feeds_block: dict[str, Any], expected: str
) -> None:
    path = write_config(
        tmp_path, {"accounts": {"console": {"type": "console"}}, "feeds": feeds_block}
    )
    result = autoposter("check", "--config", str(path))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_account_option_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"accounts": {"console": {"type": "console", "limt": 300}}})
    result = autoposter("check", "--config", str(path))
    assert result.returncode == 2
    assert "accounts.console.limt: unknown option for type 'console'" in result.stderr
    path = write_config(tmp_path, {"accounts": {"x": {"type": "myspace"}}})
    result = autoposter("check", "--config", str(path))
    assert "accounts.x.type: unknown type 'myspace'" in result.stderr


def test_a_missing_config_file_is_explained(tmp_path: Path) -> None:
    result = autoposter("check", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_config_path_comes_from_the_environment(tmp_path: Path, server: FeedServer) -> None:
    path = site_config(tmp_path, server)
    result = autoposter("check", env={"AUTOPOSTER_CONFIG": str(path)})
    assert result.returncode == 0, result.stderr
    assert "actualites" in result.stdout
    assert "console, ville_mastodon" in result.stdout


def test_run_once_across_restarts_posts_each_item_once(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(2, 1)))
    path = site_config(tmp_path, server)
    first = autoposter("run", "--once", "--config", str(path))
    assert first.returncode == 0, first.stderr
    assert "status=baseline" in first.stderr
    assert "│" not in first.stdout
    server.set("/feed", rss(*entries(3, 2, 1)))
    outputs = [autoposter("run", "--once", "--config", str(path)) for _ in range(3)]
    assert all(o.returncode == 0 for o in outputs), [o.stderr for o in outputs]
    printed = "".join(o.stdout for o in outputs)
    assert printed.count("https://www.ville.example/actu/3") == 2  # two accounts, once each
    assert "Actualité numéro 3 #VieLocale" in printed
    status = json.loads(autoposter("status", "--json", "--config", str(path)).stdout)
    assert status["accounts"] == {"console": {"sent": 1}, "ville_mastodon": {"sent": 1}}
    assert status["feeds"][0]["items"] == 3
    assert status["recent"][0]["state"] == "sent"


def test_run_once_fails_when_a_feed_does(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", b"", status=500)
    result = autoposter("run", "--once", "--config", str(site_config(tmp_path, server)))
    assert result.returncode == 1
    assert "HTTP 500" in result.stderr
    text = autoposter("status", "--config", str(tmp_path / "autoposter.yaml")).stdout
    assert "ERROR (1 in a row): HTTP 500" in text


def test_json_logs(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    result = autoposter(
        "run", "--once", "--log-format", "json", "--config", str(site_config(tmp_path, server))
    )
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    poll = next(line for line in lines if line["event"] == "poll")
    assert poll["feed"] == "actualites"
    assert poll["status"] == "baseline"


def test_backfill_posts_the_baseline_on_purpose_once(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(3, 2, 1)))
    path = str(site_config(tmp_path, server))
    assert autoposter("run", "--once", "--config", path).returncode == 0
    dry = autoposter(
        "backfill",
        "actualites",
        "--limit",
        "2",
        "--account",
        "console",
        "--dry-run",
        "--config",
        path,
    )
    assert dry.returncode == 0, dry.stderr
    assert "nothing posted" in dry.stdout
    assert dry.stdout.index("/actu/2") < dry.stdout.index("/actu/3")
    assert "/actu/1" not in dry.stdout
    real = autoposter(
        "backfill", "actualites", "--limit", "2", "--account", "console", "--config", path
    )
    assert real.returncode == 0, real.stderr
    assert real.stdout.count("│ https://www.ville.example/actu/") == 2
    again = autoposter("backfill", "actualites", "--account", "console", "--config", path)
    assert again.stdout.count("│ https://www.ville.example/actu/") == 1  # only /actu/1 was left
    assert "2 already queued or sent" in again.stdout
    bad = autoposter("backfill", "nope", "--config", path)
    assert bad.returncode == 2
    assert "no feed named 'nope'" in bad.stderr


def test_preview_shows_each_account_and_stores_nothing(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(2, 1)))
    path = site_config(tmp_path, server)
    result = autoposter("preview", "actualites", "--limit", "1", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "--- console (" in result.stdout
    assert "--- ville_mastodon (" in result.stdout
    assert "Actualité numéro 2 #VieLocale" in result.stdout
    assert "numéro 1" not in result.stdout
    assert not (tmp_path / "autoposter.db").exists()


def test_held_deliveries_are_listed_and_approved(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    path = str(site_config(tmp_path, server, burst_limit=1))
    autoposter("run", "--once", "--config", path)
    server.set("/feed", rss(*entries(3, 2, 1)))
    held_run = autoposter("run", "--once", "--config", path)
    assert "burst-held" in held_run.stderr
    assert "│" not in held_run.stdout
    status = json.loads(autoposter("status", "--json", "--config", path).stdout)
    held = [d["id"] for d in status["held"]]
    assert len(held) == 4
    assert autoposter("approve", str(held[0]), "--config", path).returncode == 0
    assert autoposter("reject", *map(str, held[1:]), "--config", path).returncode == 0
    assert autoposter("approve", str(held[1]), "--config", path).returncode == 1
    posted = autoposter("run", "--once", "--config", path)
    assert posted.stdout.count("│ https://www.ville.example/actu/") == 1


def test_demo_shows_the_baseline_then_the_new_item(tmp_path: Path) -> None:
    result = autoposter("demo", "--dir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    baseline, _, after = result.stdout.partition("2. The site published")
    assert "│" not in baseline
    assert "Conseil municipal du 2 décembre : l’ordre du jour #Exempleville #VieLocale" in after
    assert after.count("│ https://www.exempleville.example/") == 1
