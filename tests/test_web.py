"""The web console without a browser: its configuration, the ``user`` commands, the
headers and cookies it sends, roles and CSRF on raw requests, the trusted proxy header,
throttling, and its memory at rest."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from autoposter import app
from autoposter.config import parse_config
from autoposter.errors import ConfigError, RefusedError
from autoposter.web.security import Throttle
from tests.clitools import autoposter
from tests.webconsole import (
    PASSWORD,
    ROOT,
    Article,
    free_port,
    make_site,
    process,
    wait_for,
)


def test_the_web_block_and_its_defaults() -> None:
    default = parse_config({}, base_dir=Path(), environ={}).web
    assert default.listen == ("127.0.0.1", 8788)
    assert not default.secure_cookies
    web = parse_config(
        {
            "web": {
                "listen": "0.0.0.0:9000",
                "base_url": "https://autoposter.ville.example/",
                "trusted_header": "Remote-User",
                "trusted_proxies": ["127.0.0.1/32"],
                "idle_timeout": "30m",
                "language": "fr",
            }
        },
        base_dir=Path(),
        environ={},
    ).web
    assert web.listen == ("0.0.0.0", 9000)
    assert web.base_url == "https://autoposter.ville.example"
    assert web.secure_cookies
    assert web.idle_timeout == 1800
    assert web.language == "fr"


@pytest.mark.parametrize(
    ("block", "key"),
    [
        ({"trusted_header": "Remote-User"}, "web.trusted_proxies"),
        ({"base_url": "autoposter.example"}, "web.base_url"),
        ({"idle_timeout": "2d", "session_lifetime": "1d"}, "web.idle_timeout"),
        ({"colour": "blue"}, "web.colour"),
    ],
)
def test_a_wrong_web_block_names_its_key(block: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config({"web": block}, base_dir=Path(), environ={})
    assert e.value.path == key


def test_the_user_commands(tmp_path: Path) -> None:
    site = make_site(tmp_path, users=())
    password = tmp_path / "pw"
    password.write_text("a-fake-password-1\n", encoding="utf-8")
    config = ["--config", str(site.config_path)]
    done = autoposter(
        "user", "add", "Alice", "--role", "admin", "--password-file", str(password), *config
    )
    assert done.returncode == 0, done.stderr
    assert "a-fake-password-1" not in done.stdout + done.stderr
    again = autoposter(
        "user", "add", "alice", "--role", "viewer", "--password-file", str(password), *config
    )
    assert again.returncode == 1
    assert "already a user named 'alice'" in again.stderr
    assert autoposter("user", "list", *config).stdout == "alice\tadmin\tenabled\n"
    login = app.log_in(site.config, "alice", "a-fake-password-1", address="test")
    assert login is not None
    assert app.session_for(site.config, login.token) is not None
    assert autoposter("user", "disable", "alice", *config).returncode == 0
    assert app.session_for(site.config, login.token) is None
    assert app.log_in(site.config, "alice", "a-fake-password-1", address="test") is None
    assert autoposter("user", "list", *config).stdout == "alice\tadmin\tdisabled\n"
    password.write_text("another-fake-password\n", encoding="utf-8")
    assert (
        autoposter("user", "passwd", "alice", "--password-file", str(password), *config).returncode
        == 0
    )
    assert app.log_in(site.config, "alice", "another-fake-password", address="test") is not None
    with pytest.raises(RefusedError):
        app.add_user(site.config, "bob", "short", "editor", actor="test")


def test_headers_cookies_roles_and_csrf_on_raw_requests(tmp_path: Path) -> None:
    site = make_site(tmp_path, web={"base_url": "https://autoposter.ville.example"})
    site.publish([Article("piscine", "La piscine rouvre lundi")])
    with process(site, "web"), httpx.Client(base_url=site.url) as client:
        page = client.get("/login")
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "same-origin"
        assert "<script>" not in page.text  # only <script src=...>
        token = page.cookies["autoposter_login"]
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        assert csrf == token
        assert (
            client.post("/login", data={"name": "marie", "password": PASSWORD}).status_code == 403
        )
        answer = client.post(
            "/login",
            data={"name": "marie", "password": PASSWORD, "csrf_token": csrf},
            cookies={"autoposter_login": token},
        )
        assert answer.status_code == 302
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Secure" in cookie
        session = answer.cookies["autoposter_session"]
        assert client.post("/approve/2", data={"action": "approve"}).status_code == 403
        anonymous = httpx.post(site.url + "/approve/2", data={"action": "approve"})
        assert anonymous.status_code == 403
        assert site.states() == ["held"]
        page = client.get("/approve", cookies={"autoposter_session": session})
        assert page.status_code == 200
    log = tmp_path / "web.log"
    assert not log.exists() or session not in log.read_text()


def test_the_trusted_header_only_from_trusted_proxies(tmp_path: Path) -> None:
    site = make_site(
        tmp_path, web={"trusted_header": "Remote-User", "trusted_proxies": ["10.9.9.0/24"]}
    )
    with process(site, "web"):
        # The test is not a trusted proxy: the header is ignored.
        answer = httpx.get(site.url + "/", headers={"Remote-User": "marie"})
        assert answer.status_code == 302
        assert "/login" in answer.headers["location"]
    trusting = (
        make_site(
            tmp_path / "trusting",
            web={"trusted_header": "Remote-User", "trusted_proxies": ["127.0.0.1/32"]},
            users=(("marie", "editor"),),
        )
        if (tmp_path / "trusting").mkdir() is None
        else None
    )
    assert trusting is not None
    with process(trusting, "web"):
        answer = httpx.get(trusting.url + "/", headers={"Remote-User": "marie"})
        assert answer.status_code == 200
        assert "marie (editor)" in answer.text
        unknown = httpx.get(trusting.url + "/", headers={"Remote-User": "mallory"})
        assert unknown.status_code == 302


def test_throttle_counts_per_key_and_forgets_after_its_window() -> None:
    now = [0.0]
    throttle = Throttle(limit=3, window=60, max_keys=4, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("user:a", "address:1")
    assert throttle.blocked("user:a")
    assert throttle.blocked("address:1")
    assert not throttle.blocked("user:b", "address:2")
    now[0] = 61
    assert not throttle.blocked("user:a", "address:1")
    for i in range(20):  # invented names cannot fill the memory
        throttle.failed(f"user:{i}")
    assert len(throttle._failures) <= 4


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_the_console_idles_under_60_mb(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    site.publish([Article(f"a{i}", f"Article {i}") for i in range(3)])
    with process(site, "web") as proc, httpx.Client(base_url=site.url) as client:
        page = client.get("/login")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"name": "marie", "password": PASSWORD, "csrf_token": csrf})
        for path in ("/", "/approve", "/", "/approve"):
            assert client.get(path).status_code == 200
        time.sleep(1)
        rss = _rss_kib(proc.pid)
    print(f"autoposter web RSS after login and four pages: {rss / 1024:.1f} MiB")
    assert rss < 60 * 1024


def test_the_demo_serves_the_console_with_an_article_to_approve(tmp_path: Path) -> None:
    port = free_port()
    command = ["demo", "--web", "--dir", str(tmp_path), "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoposter", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    # readline() waits for a line: a demo that hangs silent is killed, ending the wait.
    killer = threading.Timer(60, proc.kill)
    killer.start()
    try:
        assert proc.stdout is not None
        printed: list[str] = []
        for _ in range(200):  # the demo prints a few dozen lines, then serves
            line = proc.stdout.readline()
            printed.append(line)
            if line.strip().startswith("password:") or not line:
                break
        output = "".join(printed)
        assert f"address:  http://127.0.0.1:{port}/" in output, output
        password = printed[-1].split(":", 1)[1].strip()
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                return httpx.get(base + "/login", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(answers, 20)
        with httpx.Client(base_url=base) as client:
            page = client.get("/login")
            csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
            login = client.post(
                "/login", data={"name": "demo", "password": password, "csrf_token": csrf}
            )
            assert login.status_code == 302
            waiting = client.get("/approve")
            assert waiting.status_code == 200
            assert waiting.text.count("<article") == 1
            assert client.get("/users").status_code == 200  # the demo user administers
    finally:
        killer.cancel()
        proc.terminate()
        proc.communicate(timeout=10)


def test_the_accounts_page_reads_a_token_expiry_without_the_token(tmp_path: Path) -> None:
    import json
    from datetime import UTC, datetime, timedelta

    from autoposter.storage import Storage

    site = make_site(tmp_path)
    soon = datetime.now(UTC) + timedelta(days=3)
    entry = {"for": "x", "token": "fake-refreshed-token", "expires": soon.isoformat()}
    with Storage.open(site.config.database) as storage:
        storage.set_account_state("console", "token", json.dumps(entry))
        assert storage.token_expiries() == {"console": soon.isoformat()}
    (row,) = app.accounts_overview(site.config)
    assert row.expiry is not None
    assert row.expiry.soon
    assert not row.expiry.expired
    assert "fake-refreshed-token" not in repr(row)
