"""``autoposter check`` on real configuration files: every post links back to the site,
and a LinkedIn version near the end of its support is said before LinkedIn refuses it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from autoposter.config import parse_config
from autoposter.publishers.linkedin import LINKEDIN_VERSION, version_warning
from tests.clitools import autoposter, write_config
from tests.fakes import linkedin as fl

FEED = "https://www.ville.example/actualites/feed"


def config(tmp_path: Path, accounts: dict[str, Any], **feed: Any) -> dict[str, Any]:
    return {
        "database": f"sqlite:///{tmp_path}/autoposter.db",
        "accounts": accounts,
        "feeds": {"actualites": {"url": FEED, "accounts": list(accounts), **feed}},
    }


MASTODON = {"type": "mastodon", "api_url": "https://social.example", "access_token": "fake-tok"}
BLUESKY = {"type": "bluesky", "handle": "ville.bsky.social", "app_password": "fake-pass"}
FACEBOOK = {"type": "facebook", "page_id": "104123456789012", "access_token": "fake-page-tok"}
LINKEDIN = {"type": "linkedin", "organization_id": "2414183", "access_token": "fake-li-tok"}


def check(tmp_path: Path, data: dict[str, Any], *args: str) -> Any:
    return autoposter("check", "--config", str(write_config(tmp_path, data)), *args)


def test_a_feed_template_without_link_is_refused_naming_the_feed(tmp_path: Path) -> None:
    done = check(tmp_path, config(tmp_path, {"ville_masto": MASTODON}, template="{title}"))
    assert done.returncode == 2, done.stderr
    assert "feeds.actualites.template" in done.stderr
    assert "ville_masto" in done.stderr
    assert "{link}" in done.stderr


def test_an_account_template_without_link_is_refused_naming_the_account(tmp_path: Path) -> None:
    accounts = {
        "ville_masto": MASTODON,
        "ville_bsky": {**BLUESKY, "template": "{title} {hashtags}"},
    }
    done = check(tmp_path, config(tmp_path, accounts))
    assert done.returncode == 2, done.stderr
    assert "accounts.ville_bsky.template" in done.stderr


def test_a_defaults_template_without_link_is_refused_naming_defaults(tmp_path: Path) -> None:
    data = {**config(tmp_path, {"ville_masto": MASTODON}), "defaults": {"template": "{title}"}}
    done = check(tmp_path, data)
    assert done.returncode == 2, done.stderr
    assert "defaults.template" in done.stderr


def test_networks_that_carry_the_link_in_a_field_need_no_link_in_the_text(
    tmp_path: Path,
) -> None:
    accounts = {"ville_fb": FACEBOOK, "ville_li": LINKEDIN}
    done = check(tmp_path, config(tmp_path, accounts, template="{title}\n\n{summary}"))
    assert done.returncode == 0, done.stderr


def test_the_daemon_refuses_to_start_on_a_template_without_link(tmp_path: Path) -> None:
    from autoposter import daemon
    from autoposter.errors import ConfigError

    parsed = parse_config(
        config(tmp_path, {"ville_masto": MASTODON}, template="{title}"),
        base_dir=tmp_path,
        environ={},
    )
    with pytest.raises(ConfigError) as raised:
        daemon.run(parsed)
    assert raised.value.path == "feeds.actualites.template"


def test_the_default_linkedin_version_is_recent_and_old_ones_are_warned_of() -> None:
    december = date(2026, 12, 1)
    assert version_warning("li", LINKEDIN_VERSION, december) is None
    assert version_warning("li", "202602", december) is None  # 10 months
    warning = version_warning("li", "202601", december)  # 11 months
    assert warning is not None
    assert "accounts.li.linkedin_version" in warning


def test_check_warns_about_an_old_linkedin_version(tmp_path: Path) -> None:
    accounts = {"ville_li": {**LINKEDIN, "linkedin_version": "202501"}}
    done = check(tmp_path, config(tmp_path, accounts))
    assert done.returncode == 0, done.stderr
    assert "accounts.ville_li.linkedin_version" in done.stderr
    assert "months old" in done.stderr


@pytest.fixture
def linkedin() -> Iterator[fl.FakeLinkedIn]:
    with fl.FakeLinkedIn() as server:
        yield server  # type: ignore[misc]


def test_check_online_says_whether_linkedin_still_accepts_the_version(
    tmp_path: Path, linkedin: fl.FakeLinkedIn
) -> None:
    account = {**LINKEDIN, "access_token": fl.TOKEN, "api_url": linkedin.url}
    done = check(tmp_path, config(tmp_path, {"ville_li": account}), "--online")
    assert f"linkedin_version={LINKEDIN_VERSION} (accepted)" in done.stdout, done.stdout

    old = {"ville_li": {**account, "linkedin_version": "202511"}}
    done = check(tmp_path, config(tmp_path, old), "--online")
    assert done.returncode == 1
    assert "version no longer accepted" in done.stdout
    assert "accounts.ville_li.linkedin_version" in done.stdout
