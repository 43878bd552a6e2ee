"""The ``autoposter`` command, run in a child process as a user runs it."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

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
            "delivery": {"min_interval": 0},
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


@pytest.mark.parametrize(
    ("block", "env", "expected"),
    [
        (
            {"defaults": {"poll_interval": 10}},
            {},
            "defaults.poll_interval: write 10s, 10m or 10h (a bare number has no unit)",
        ),
        (
            {"delivery": {"retry_delay": 2.5}},
            {},
            "delivery.retry_delay: write 2.5s, 2.5m or 2.5h (a bare number has no unit)",
        ),
        # ${VAR} yields text, but "120" is no more telling there than in the file.
        (
            {"alerts": {"feed_failing_after": "${FAILING}"}},
            {"FAILING": "120"},
            "alerts.feed_failing_after: write 120s, 120m or 120h",
        ),
        # A publisher's options follow the same grammar.
        (
            {
                "accounts": {
                    "hook": {"type": "webhook", "url": "http://127.0.0.1:9/", "timeout": 20}
                }
            },
            {},
            "accounts.hook: timeout: write 20s, 20m or 20h (a bare number has no unit)",
        ),
    ],
)
def test_a_bare_number_is_no_duration(
    tmp_path: Path, block: dict[str, Any], env: dict[str, str], expected: str
) -> None:
    data: dict[str, Any] = {"accounts": {"console": {"type": "console"}}, **block}
    result = autoposter("check", "--config", str(write_config(tmp_path, data)), env=env)
    assert result.returncode == 2
    assert expected in result.stderr


def test_zero_needs_no_unit(tmp_path: Path) -> None:
    data = {"accounts": {"console": {"type": "console"}}, "delivery": {"min_interval": 0}}
    result = autoposter("check", "--config", str(write_config(tmp_path, data)))
    assert result.returncode == 0, result.stderr


def test_check_prints_every_rule_it_understood(tmp_path: Path) -> None:
    path = tmp_path / "autoposter.yaml"
    path.write_text(
        """\
timezone: Europe/Paris
smtp:
  host: smtp.exempleville.example
  from: autoposter@exempleville.example
  username: alertes
  password: "${SMTP_PASSWORD}"
alerts: {email: [web@exempleville.example]}
delivery:
  blackout: [{from: 2026-03-01, to: 2026-03-15, reason: réserve électorale}]
accounts:
  console: {type: console, approval: required}
feeds:
  actualites:
    url: https://www.exempleville.example/feed
    accounts: [console]
    hashtags: [Exempleville, vie locale]
    approval: required
    urgent: {categories: [Alerte], keywords: [inondation]}
    quiet_hours: "22:00-07:00"
    blackout: [{from: 2026-05-01, to: "2026-05-02 18:00"}]
watch:
  watches:
    ville:
      keywords: [Exempleville]
      recipients: [communication@exempleville.example]
      digest: hourly
      sources:
        alertes: {type: feed, url: https://www.google.com/alerts/feeds/1/2}
        actus: {type: feed, url: https://news.google.com/rss}
""",
        encoding="utf-8",
    )
    path.chmod(0o600)
    done = autoposter("check", "--config", str(path), env={"SMTP_PASSWORD": "FAKE-smtp-pw"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "blackout 2026-03-01 to 2026-03-15 (inclusive): réserve électorale" in out
    assert "excl." not in out
    assert "smtp:          smtp.exempleville.example:587 starttls, login alertes" in out
    assert "FAKE-smtp-pw" not in out
    assert "alerts to:     web@exempleville.example" in out
    assert "type=console (min_interval 2m, blackout" in out
    assert "approval required" in out
    for line in [
        "    approval:      required",
        "    hashtags:      Exempleville, vie locale",
        "    urgent:        categories Alerte; keywords inondation",
        "    quiet hours:   22:00-07:00",
        "    blackout:      2026-05-01 to 2026-05-02 18:00",
        "watches (1):",
        "    keywords:      Exempleville",
        "    feed:          alertes, actus",
        "    digest:        hourly",
        "    recipients:    communication@exempleville.example",
    ]:
        assert line + "\n" in out


def test_check_prints_no_empty_section(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"accounts": {"console": {"type": "console"}}})
    done = autoposter("check", "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert "smtp:          no SMTP: alerts go to the log" in done.stdout
    assert "feeds (" not in done.stdout
    assert "watches (" not in done.stdout


def test_an_unknown_account_option_is_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"accounts": {"console": {"type": "console", "limt": 300}}})
    result = autoposter("check", "--config", str(path))
    assert result.returncode == 2
    assert "accounts.console.limt: unknown option for type 'console'" in result.stderr
    path = write_config(tmp_path, {"accounts": {"x": {"type": "myspace"}}})
    result = autoposter("check", "--config", str(path))
    assert "accounts.x.type: unknown type 'myspace'" in result.stderr
    known = "bluesky, console, facebook, linkedin, mastodon, telegram, threads, webhook, x"
    assert f"(known: {known})" in result.stderr


def test_only_the_configured_networks_sdks_are_loaded(tmp_path: Path) -> None:
    """Each SDK costs tens of megabytes in a daemon that runs for years."""
    path = write_config(tmp_path, {"accounts": {"console": {"type": "console"}}})
    script = (
        "import sys\n"
        "from autoposter.config import load_config\n"
        "from autoposter.runtime import build_publishers\n"
        f"built = build_publishers(load_config({str(path)!r}))\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "sdks = {'atproto', 'tweepy', 'facebook', 'mastodon'} & loaded\n"
        "print(sorted(built), sorted(sdks))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['console'] []"


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


def test_unchanged_polls_are_logged_only_at_debug_level(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(2, 1)))
    path = str(site_config(tmp_path, server))
    assert "status=baseline" in autoposter("run", "--once", "--config", path).stderr
    quiet = autoposter("run", "--once", "--config", path)
    assert quiet.returncode == 0, quiet.stderr
    assert "poll " not in quiet.stderr
    verbose = autoposter("run", "--once", "--config", path, env={"AUTOPOSTER_LOG_LEVEL": "debug"})
    assert verbose.returncode == 0, verbose.stderr
    assert "poll feed=actualites status=not-modified" in verbose.stderr


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


def test_backfill_holds_for_approval_and_posts_only_to_the_feeds_accounts(
    tmp_path: Path, server: FeedServer
) -> None:
    server.set("/feed", rss(*entries(2, 1)))
    path = site_config(tmp_path, server, approval="required")
    data = yaml.safe_load(path.read_text())
    data["accounts"]["other_town"] = {"type": "console"}
    config = str(write_config(tmp_path, data))
    assert autoposter("run", "--once", "--config", config).returncode == 0  # the baseline
    elsewhere = autoposter("backfill", "actualites", "--account", "other_town", "--config", config)
    assert elsewhere.returncode == 2
    assert "feed 'actualites' posts to: console, ville_mastodon" in elsewhere.stderr
    held = autoposter("backfill", "actualites", "--config", config)
    assert held.returncode == 0, held.stderr
    assert "│" not in held.stdout  # nothing posted
    assert "4 held for approval" in held.stdout
    listed = autoposter("queue", "--config", config).stdout
    assert listed.count("why: approval required") == 4
    autoposter("approve", "--all", "--yes", "--config", config)
    posted = autoposter("run", "--once", "--config", config)
    assert posted.stdout.count("│ https://www.ville.example/actu/") == 4


def test_preview_shows_each_account_and_stores_nothing(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(2, 1)))
    path = site_config(tmp_path, server)
    result = autoposter("preview", "actualites", "--limit", "1", "--config", str(path))
    assert result.returncode == 0, result.stderr
    # Each account's counted length against its limit.
    assert re.search(r"^--- console \(\d+/500\)$", result.stdout, re.M)
    assert re.search(r"^--- ville_mastodon \(\d+/500\)$", result.stdout, re.M)
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


def test_decisions_by_item_by_feed_and_every_held(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    path = str(site_config(tmp_path, server, burst_limit=1))
    autoposter("run", "--once", "--config", path)
    server.set("/feed", rss(*entries(3, 2, 1)))
    autoposter("run", "--once", "--config", path)
    assert autoposter("approve", "--config", path).returncode == 2  # approve what?
    by_item = autoposter("approve", "--item", "2", "--config", path)  # item 1 is the baseline
    assert by_item.returncode == 0, by_item.stderr
    assert by_item.stdout.count(": approved") == 2
    assert autoposter("reject", "--all-held", "--config", path).stdout.count(": rejected") == 2
    nothing = autoposter("retry", "--feed", "actualites", "--config", path)
    assert nothing.stdout.strip() == "no delivery matches; nothing done."
    assert autoposter("retry", "--feed", "nope", "--config", path).returncode == 2
    posted = autoposter("run", "--once", "--config", path)
    assert posted.stdout.count("│ https://www.ville.example/actu/2") == 2
    assert "actu/3" not in posted.stdout


def test_a_burst_is_decided_in_one_command_with_ranges_or_all(
    tmp_path: Path, server: FeedServer
) -> None:
    server.set("/feed", rss(*entries(1)))
    path = site_config(tmp_path, server, burst_limit=1)
    data = yaml.safe_load(path.read_text())
    data["accounts"]["ville_bsky"] = {"type": "console"}
    data["feeds"]["actualites"]["accounts"].append("ville_bsky")
    path = write_config(tmp_path, data)
    config = str(path)
    autoposter("run", "--once", "--config", config)
    server.set("/feed", rss(*entries(9, 8, 7, 6, 5, 4, 3, 2, 1)))
    autoposter("run", "--once", "--config", config)  # 8 items x 3 accounts, held
    held = sorted(
        d["id"]
        for d in json.loads(autoposter("status", "--json", "--config", config).stdout)["held"]
    )
    assert len(held) == 24
    first = held[0]
    # A range mixed with single ids, each id once.
    some = autoposter(
        "reject", str(first), f"{first + 1}-{first + 3}", str(first + 2), "--config", config
    )
    assert some.returncode == 0, some.stderr
    assert some.stdout.count(": rejected") == 4
    assert "4 of 4 rejected." in some.stdout
    assert autoposter("approve", "9-", "--config", config).returncode == 2
    assert autoposter("approve", "--all", "3", "--config", config).returncode == 2
    # --all counts, then asks; "no" does nothing.
    asked = autoposter("approve", "--all", "--config", config, input="n\n")
    assert "approve 20 held deliveries? [y/N]" in asked.stdout
    assert asked.returncode == 1
    assert ": approved" not in asked.stdout
    help_text = autoposter("retry", "--help").stdout
    assert "Every failed or unknown delivery" in help_text
    assert "Every pending, held, failed or unknown" in autoposter("skip", "--help").stdout
    everything = autoposter("approve", "--all", "--yes", "--config", config)
    assert everything.returncode == 0, everything.stderr
    assert "20 of 20 approved." in everything.stdout
    none_left = autoposter("retry", "--all", "--yes", "--config", config)
    assert none_left.returncode == 0
    assert "no failed or unknown delivery; nothing done." in none_left.stdout
    skipped = autoposter("skip", "--all", "--config", config, input="y\n")
    assert "skip 20 pending, held, failed or unknown deliveries?" in skipped.stdout
    assert "20 of 20 skipped." in skipped.stdout


def test_demo_shows_the_baseline_then_the_new_item(tmp_path: Path) -> None:
    result = autoposter("demo", "--dir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    baseline, _, after = result.stdout.partition("2. The site published")
    assert "│" not in baseline
    assert "Conseil municipal du 2 décembre : l’ordre du jour #Exempleville #VieLocale" in after
    assert after.count("│ https://www.exempleville.example/") == 1


def test_the_operator_commands(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    path = str(site_config(tmp_path, server, burst_limit=1))
    autoposter("run", "--once", "--config", path)
    server.set("/feed", rss(*entries(3, 2, 1)))
    autoposter("run", "--once", "--config", path)
    listed = autoposter("queue", "--config", path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("held · ") == 4
    assert "why: burst guard" in listed.stdout
    assert "│ Actualité numéro 2 #VieLocale" in listed.stdout
    held = sorted(int(n) for n in re.findall(r"^#(\d+) held", listed.stdout, re.M))
    # Item 2 for both accounts is approved; item 3 is skipped for good.
    assert autoposter("approve", *map(str, held[:2]), "--config", path).returncode == 0
    assert autoposter("skip", *map(str, held[2:]), "--config", path).returncode == 0
    assert autoposter("retry", str(held[2]), "--config", path).returncode == 1  # skipped is final
    assert autoposter("queue", "--config", path).stdout.strip() == "nothing waits for a decision."

    assert autoposter("account", "pause", "ville_mastodon", "--config", path).returncode == 0
    paused = autoposter("run", "--once", "--config", path)
    assert paused.stdout.count("│ https://www.ville.example/actu/2") == 1  # console only
    assert "ville_mastodon" not in paused.stdout
    assert "account ville_mastodon is PAUSED" in autoposter("queue", "--config", path).stdout
    assert autoposter("account", "resume", "ville_mastodon", "--config", path).returncode == 0
    resumed = autoposter("run", "--once", "--config", path)
    assert "│ ville_mastodon · fr" in resumed.stdout
    assert resumed.stdout.count("│ https://www.ville.example/actu/") == 1
    bad = autoposter("account", "pause", "nope", "--config", path)
    assert bad.returncode == 2


def test_export_is_the_public_record(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    path = str(site_config(tmp_path, server))
    autoposter("run", "--once", "--config", path)
    server.set("/feed", rss(*entries(2, 1)))
    autoposter("run", "--once", "--config", path)
    rows = list(csv.DictReader(io.StringIO(autoposter("export", "--config", path).stdout)))
    assert sorted(r["account"] for r in rows) == ["console", "ville_mastodon"]
    assert {r["link"] for r in rows} == {"https://www.ville.example/actu/2"}
    assert {r["title"] for r in rows} == {"Actualité numéro 2"}
    assert all(r["post_id"].startswith("console:") for r in rows)
    as_json = json.loads(autoposter("export", "--format", "json", "--config", path).stdout)
    assert len(as_json) == 2
    trail = json.loads(
        autoposter("export", "--events", "--format", "json", "--config", path).stdout
    )
    assert [(e["from"], e["to"]) for e in trail if e["account"] == "console"] == [
        ("", "pending"),
        ("pending", "sending"),
        ("sending", "sent"),
    ]
    later = autoposter("export", "--since", "2999-01-01", "--config", path).stdout
    assert later.strip() == "sent_at,account,feed,title,link,post_url,post_id,delivery"


def test_export_for_a_french_spreadsheet(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    path = str(site_config(tmp_path, server))
    autoposter("run", "--once", "--config", path)
    server.set("/feed", rss(*entries(2, 1)))
    autoposter("run", "--once", "--config", path)
    sheet = tmp_path / "publications.csv"
    done = autoposter("export", "--format", "csv-excel", "--output", str(sheet), "--config", path)
    assert done.returncode == 0, done.stderr
    raw = sheet.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    # What LibreOffice Calc does with "Unicode (UTF-8)" and ";" as separator.
    with sheet.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    assert sorted(r["account"] for r in rows) == ["console", "ville_mastodon"]
    assert {r["title"] for r in rows} == {"Actualité numéro 2"}
    as_json = json.loads(autoposter("export", "--format", "json", "--config", path).stdout)
    paris = ZoneInfo("Europe/Paris")
    expected = {
        datetime.fromisoformat(r["sent_at"]).astimezone(paris).strftime("%Y-%m-%d %H:%M:%S")
        for r in as_json
    }
    assert {r["sent_at"] for r in rows} == expected
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r["sent_at"]) for r in rows)
    events = autoposter("export", "--events", "--format", "csv-excel", "--config", path).stdout
    assert events.startswith("\ufefftime;delivery;account;")


@pytest.mark.parametrize("log_format", ["human", "json"])
def test_log_lines_carry_their_time_zone(tmp_path: Path, log_format: str) -> None:
    path = write_config(
        tmp_path,
        {
            "database": "sqlite:///autoposter.db",
            # No summer time there: the offset is the same all year.
            "timezone": "America/Sao_Paulo",
            "accounts": {"console": {"type": "console"}},
            "feeds": {},
        },
    )
    done = autoposter("run", "--once", "--log-format", log_format, "--config", str(path))
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines() if "cycle" in line)
    if log_format == "json":
        when = json.loads(line)["time"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-03:00", when), when
    else:
        when = line.split(" ", 1)[0]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-03:00", when), line
    moment = datetime.fromisoformat(when)
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 120


def test_post_urgent_goes_through_quiet_hours(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    path = site_config(tmp_path, server)
    data = yaml.safe_load(path.read_text())
    data["delivery"] = {"min_interval": 0, "quiet_hours": "00:00-23:59"}  # always quiet
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    calm = autoposter(
        "post",
        "actualites",
        "--title",
        "Fête de la musique",
        "--link",
        "https://www.ville.example/fete",
        "--config",
        str(path),
    )
    assert calm.returncode == 0, calm.stderr
    assert "0 posted now, 2 waiting" in calm.stdout
    alert = autoposter(
        "post",
        "actualites",
        "--title",
        "Alerte crue : évacuez les berges",
        "--link",
        "https://www.ville.example/crue",
        "--urgent",
        "--account",
        "console",
        "--config",
        str(path),
    )
    assert alert.returncode == 0, alert.stderr
    assert "1 posted now" in alert.stdout
    assert "│ Alerte crue : évacuez les berges" in alert.stdout


def test_post_says_what_became_of_each_account(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    # The feed server answers a POST with 501: the webhook cannot tell if it was posted.
    path = site_config(tmp_path, server)
    data = yaml.safe_load(path.read_text())
    data["accounts"]["hook"] = {"type": "webhook", "url": server.url("/hook")}
    data["feeds"]["actualites"]["accounts"].append("hook")
    config = str(write_config(tmp_path, data))
    assert autoposter("account", "pause", "ville_mastodon", "--config", config).returncode == 0
    post = ["post", "actualites", "--title", "Crue", "--link", "https://www.ville.example/crue"]
    fine = autoposter(
        *post, "--urgent", "--account", "console", "--account", "ville_mastodon", "--config", config
    )
    assert fine.returncode == 0, fine.stderr
    assert "  console: sent" in fine.stdout
    assert "  ville_mastodon: waiting, account paused:" in fine.stdout
    assert "1 posted now, 1 waiting (the daemon sends them), 0 failed." in fine.stdout
    failing = autoposter(*post, "--urgent", "--config", config)
    assert failing.returncode == 1
    assert "  hook: FAILED (unknown):" in failing.stderr
    assert "1 failed." in failing.stdout


def test_status_says_why_each_delivery_waits(tmp_path: Path, server: FeedServer) -> None:
    server.set("/feed", rss(*entries(1)))
    path = site_config(tmp_path, server)
    data = yaml.safe_load(path.read_text())
    data["delivery"] = {"min_interval": "1h"}
    data["accounts"]["ville_bsky"] = {"type": "console", "approval": "required"}
    data["accounts"]["quiet"] = {"type": "console", "quiet_hours": "00:00-23:59"}
    data["feeds"]["actualites"]["accounts"] += ["ville_bsky", "quiet"]
    config = str(write_config(tmp_path, data))
    empty = autoposter("status", "--config", config)
    assert empty.returncode == 0, empty.stderr
    assert "unknown (" not in empty.stdout
    assert "waiting:" not in empty.stdout
    assert "last deliveries:" not in empty.stdout
    autoposter(
        "account", "pause", "ville_mastodon", "--reason", "new token due", "--config", config
    )
    post = ["post", "actualites", "--title", "Fête", "--link", "https://www.ville.example/fete"]
    autoposter(*post, "--config", config)  # console sends; pacing then holds its next one
    autoposter(*post, "--config", config)
    shown = autoposter("status", "--config", config)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "PAUSED: new token due" in out
    assert re.search(r"console · Fête · pacing until \d\d:\d\d", out)
    assert "ville_mastodon · Fête · account paused: new token due" in out
    assert "ville_bsky · Fête · waits for approval (approval required)" in out
    assert re.search(r"quiet · Fête · quiet hours 00:00-23:59 until 23:59", out)
    assert "unknown (" not in out


def test_read_only_commands_run_without_the_secrets_variables(
    tmp_path: Path, server: FeedServer
) -> None:
    server.set("/feed", rss(*entries(1)))
    path = site_config(tmp_path, server)
    data = yaml.safe_load(path.read_text())
    data["accounts"]["ville_mastodon"] = {
        "type": "mastodon",
        "api_url": "https://social.ville.example",
        "access_token": "${MASTODON_TOKEN}",
    }
    config = str(write_config(tmp_path, data))
    assert "MASTODON_TOKEN" not in os.environ
    for command in (["status"], ["queue"], ["export"], ["preview", "actualites"]):
        done = autoposter(*command, "--config", config)
        assert done.returncode == 0, (command, done.stderr)
    # No watch here: mentions says so, rather than asking for the token.
    assert "no watch is configured" in autoposter("mentions", "--config", config).stderr
    assert "ville_mastodon (" in autoposter("preview", "actualites", "--config", config).stdout
    for command in (
        ["run", "--once"],
        ["check"],
        ["backfill", "actualites"],
        ["post", "actualites", "--title", "T", "--link", "https://www.ville.example/t"],
    ):
        refused = autoposter(*command, "--config", config)
        assert refused.returncode == 2, command
        assert "accounts.ville_mastodon.access_token: environment variable MASTODON_TOKEN" in (
            refused.stderr
        )


def test_every_command_is_listed_once_with_the_module_that_defines_it() -> None:
    import importlib

    from autoposter import cli as entry

    defined: dict[str, str] = {}
    for module in set(entry.COMMANDS.values()):
        for name in importlib.import_module(f"autoposter.cli.{module}").COMMANDS:
            assert name not in defined, name
            defined[name] = module
    assert defined == entry.COMMANDS


def test_check_loads_neither_the_database_layer_nor_any_network_sdk(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = Path(__file__).parent.parent / "config.example.yaml"
    probe = (
        "import sys\n"
        "from autoposter.cli import main\n"
        "try:\n"
        f"    main(['check', '--config', {str(config)!r}])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "heavy = ('sqlalchemy', 'alembic', 'mastodon', 'atproto', 'tweepy', 'facebook',\n"
        "         'httpx', 'feedparser', 'apscheduler')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
