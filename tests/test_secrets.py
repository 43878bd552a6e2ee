"""No configured secret ever leaves: not in a log line, an error message, a traceback,
the command's output, or the database.

A full configuration holds every kind of secret, each reaching autoposter a
different way (written in the file, from the environment, from a ``_file``,
inside the database URL). Each test drives it through a failure path in a real
child process and checks every way each secret can be written (as is,
percent-encoded, JSON- or repr-escaped: ``logs.written_forms``) against
stdout, stderr and the bytes of the SQLite files.

To cover a new network, add a ``Network`` to NETWORKS: its account block (with
its secrets) and a fake of its API that refuses the credentials.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autoposter import logs
from autoposter.publishers import available
from tests.clitools import ROOT, write_config
from tests.fakes.apiserver import ApiError, ApiRequest, ApiResponse, ApiServer
from tests.feedserver import FeedServer
from tests.plugins import install_plugins
from tests.test_pipeline import entries, rss

TOKEN = "FAKE-access-token/with+odd=chars"  # written in the file itself
PASSWORD = "FAKE pass wörd&more=1"  # from the environment: ${LEAKY_PASSWORD}
APP_PASSWORD = "FAKE-abcd-efgh-ijkl"  # from a _file
BOT_TOKEN = "123456789:FAKE-AAbbCCddEEff_gg-HH"  # from a _file, and in request URLs
DB_PASSWORD = "FAKE-db-p@ss/word"  # inside the database URL, percent-encoded there
SECRETS = (TOKEN, PASSWORD, APP_PASSWORD, BOT_TOKEN, DB_PASSWORD)


def assert_clean(where: str, data: str | bytes) -> None:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    for secret in SECRETS:
        for form in logs.written_forms(secret):
            assert form not in text, f"a form of a secret ({form[:10]}...) leaked into {where}"


def assert_database_clean(folder: Path) -> None:
    files = sorted(folder.glob("autoposter.db*"))
    assert files, "no database was written"
    for path in files:
        assert_clean(path.name, path.read_bytes())


# --- the networks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """An account type, its block with secrets, and a fake API refusing them."""

    name: str
    account: Callable[[str, Path], dict[str, Any]]  # (api_url, secrets folder) -> block
    refusing_api: Callable[[], AbstractContextManager[str]]  # yields the API's base URL


@contextmanager
def _refusing_api() -> Iterator[str]:
    def unauthorized(_request: ApiRequest) -> ApiResponse:
        raise ApiError(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})

    server = ApiServer()
    server.route("POST", r"/.*", unauthorized)
    with server:
        yield server.url


def _leaky_account(api_url: str, folder: Path) -> dict[str, Any]:
    return {
        "type": "leaky",
        "api_url": api_url,
        "token": TOKEN,
        "password": "${LEAKY_PASSWORD}",
        "app_password_file": str(_secret_file(folder, "app_password", APP_PASSWORD)),
        "bot_token_file": str(_secret_file(folder, "bot_token", BOT_TOKEN)),
    }


@contextmanager
def _fake(module: str, cls: str) -> Iterator[str]:
    fake = getattr(importlib.import_module(module), cls)()
    with fake:
        yield fake.url


def _telegram_account(api_url: str, folder: Path) -> dict[str, Any]:
    bot_token = str(_secret_file(folder, "bot_token", BOT_TOKEN))
    return {
        "type": "telegram",
        "api_url": api_url,
        "bot_token_file": bot_token,
        "chat_id": "@ville_info",
    }


def _mastodon_account(api_url: str, folder: Path) -> dict[str, Any]:
    return {"type": "mastodon", "api_url": api_url, "access_token": TOKEN}


# The fakes answer 401 to these credentials (not theirs).
NETWORKS = [
    Network("leaky", _leaky_account, _refusing_api),
    Network("telegram", _telegram_account, lambda: _fake("tests.fakes.telegram", "FakeTelegram")),
    Network("mastodon", _mastodon_account, lambda: _fake("tests.fakes.mastodon", "FakeMastodon")),
]
_INSTALLED = set(available()) | {"leaky"}
NETWORK_PARAMS = [
    pytest.param(
        n,
        id=n.name,
        marks=pytest.mark.skipif(n.name not in _INSTALLED, reason=f"no {n.name} publisher yet"),
    )
    for n in NETWORKS
]


def _secret_file(folder: Path, name: str, value: str) -> Path:
    path = folder / "secrets" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- running autoposter -------------------------------------------------------------------


@dataclass
class Setup:
    folder: Path
    config: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "autoposter", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            check=False,
        )
        assert_clean(f"stdout of {args}", done.stdout)
        assert_clean(f"stderr of {args}", done.stderr)
        return done


def make_setup(
    tmp_path: Path,
    network: Network,
    api_url: str,
    feed_url: str,
    *,
    mode: str,
    database: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Setup:
    account = network.account(api_url, tmp_path)
    if network.name == "leaky":
        account["mode"] = mode
    data: dict[str, Any] = {
        "database": database or "sqlite:///autoposter.db",
        "dispatch_interval": "1s",
        "defaults": {"language": "fr", "timeout": "5s"},
        "accounts": {network.name: account, "console": {"type": "console"}},
        "feeds": {"actu": {"url": feed_url, "accounts": [network.name, "console"]}},
        **(extra or {}),
    }
    config = write_config(tmp_path, data)
    plugins = install_plugins(tmp_path / "site")
    env = {k: v for k, v in os.environ.items() if k != "AUTOPOSTER_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(plugins)])
    env["LEAKY_PASSWORD"] = PASSWORD
    return Setup(tmp_path, config, env)


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.set("/feed", rss(*entries(1)))
        yield server


def _baseline_then_new_item(setup: Setup, feeds: FeedServer, *, log_format: str) -> str:
    first = setup.run("run", "--once", "--log-format", log_format)
    assert first.returncode == 0, first.stderr
    feeds.set("/feed", rss(*entries(2, 1)))
    second = setup.run("run", "--once", "--log-format", log_format)
    return second.stderr


# --- the failure paths ----------------------------------------------------------------------


@pytest.mark.parametrize("network", NETWORK_PARAMS)
@pytest.mark.parametrize("log_format", ["human", "json"])
@pytest.mark.parametrize("mode", ["auth", "network"])
def test_refused_credentials_and_network_errors(
    tmp_path: Path, feeds: FeedServer, network: Network, log_format: str, mode: str
) -> None:
    with network.refusing_api() as api_url:
        url = api_url if mode == "auth" else _closed_port_url()
        setup = make_setup(tmp_path, network, url, feeds.url("/feed"), mode=mode)
        err = _baseline_then_new_item(setup, feeds, log_format=log_format)
        if network.name == "leaky":
            # The failure happened, with the secrets in its raw text, and was redacted.
            assert logs.REDACTED in err, err
        status = setup.run("status", "--log-format", log_format)
        as_json = setup.run("status", "--json")
        check = setup.run("check", "--online", "--log-format", log_format)
    assert status.returncode == 0, status.stderr
    assert as_json.returncode == 0, as_json.stderr
    assert check.returncode == 1
    assert "FAILED" in check.stdout
    assert_database_clean(tmp_path)


@pytest.mark.parametrize("log_format", ["human", "json"])
def test_a_bug_in_a_publisher_with_its_traceback(
    tmp_path: Path, feeds: FeedServer, log_format: str
) -> None:
    with _refusing_api() as api_url:
        setup = make_setup(tmp_path, NETWORKS[0], api_url, feeds.url("/feed"), mode="crash")
        err = _baseline_then_new_item(setup, feeds, log_format=log_format)
        check = setup.run("check", "--online")
    assert "Traceback" in err or "traceback" in err
    assert logs.REDACTED in err
    assert check.returncode == 1
    assert_database_clean(tmp_path)


def test_the_daemon_logs_a_crashing_job_without_its_secrets(
    tmp_path: Path, feeds: FeedServer
) -> None:
    with _refusing_api() as api_url:
        setup = make_setup(tmp_path, NETWORKS[0], api_url, feeds.url("/feed"), mode="crash")
        assert setup.run("run", "--once").returncode == 0
        feeds.set("/feed", rss(*entries(2, 1)))
        command = ["run", "--log-format", "json", "--config", str(setup.config)]
        daemon = subprocess.Popen(
            [sys.executable, "-m", "autoposter", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=setup.env,
        )
        try:
            time.sleep(6)  # the first poll (within 10 s of start, usually sooner) and dispatches
            daemon.send_signal(signal.SIGTERM)
            out, err = daemon.communicate(timeout=30)
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
    assert_clean("daemon stdout", out)
    assert_clean("daemon stderr", err)
    assert '"event": "started"' in err
    assert_database_clean(tmp_path)


def test_configuration_errors_never_quote_a_secret(tmp_path: Path, feeds: FeedServer) -> None:
    broken: list[dict[str, Any]] = [
        {"timezone": TOKEN},  # a secret pasted in the wrong place is quoted back: redacted
        {"timezone": "${LEAKY_PASSWORD}"},
        {"http": {"listen": BOT_TOKEN}},
        {"defaults": {"language": APP_PASSWORD}},
    ]
    for index, extra in enumerate(broken):
        folder = tmp_path / str(index)
        folder.mkdir()
        setup = make_setup(
            folder, NETWORKS[0], "http://127.0.0.1:9", feeds.url("/feed"), mode="ok", extra=extra
        )
        done = setup.run("check")
        assert done.returncode == 2, (extra, done.stdout, done.stderr)
        assert "configuration error" in done.stderr
    # A publisher refusing its own options may quote them: redacted too.
    folder = tmp_path / "type"
    folder.mkdir()
    setup = make_setup(folder, NETWORKS[0], "http://127.0.0.1:9", feeds.url("/feed"), mode=TOKEN)
    done = setup.run("check", "--online")
    assert done.returncode == 2, done.stderr
    assert logs.REDACTED in done.stderr


@pytest.mark.parametrize("log_format", ["human", "json"])
def test_a_database_password_stays_out_of_errors(
    tmp_path: Path, feeds: FeedServer, log_format: str
) -> None:
    from urllib.parse import quote

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://autoposter:{quote(DB_PASSWORD, safe='')}@127.0.0.1:{port}/x"
    setup = make_setup(
        tmp_path, NETWORKS[0], "http://127.0.0.1:9", feeds.url("/feed"), mode="ok", database=url
    )
    done = setup.run("run", "--once", "--log-format", log_format)
    assert done.returncode != 0
    assert "127.0.0.1" in done.stderr  # the error names the server, not the password
    shown = setup.run("check")
    assert shown.returncode == 0, shown.stderr
    assert "autoposter:***@127.0.0.1" in shown.stdout


def test_every_form_of_a_secret_is_redacted() -> None:
    from urllib.parse import quote, quote_plus

    secret = "FAKE/tök en+=&:@"
    for text in (
        f"GET https://api.example/bot{quote(secret, safe='')}/x",
        f"GET https://api.example/?t={quote_plus(secret)}",
        f"GET https://api.example/{quote(secret)}",
        "GET https://api.example/" + re.sub("%..", lambda m: m[0].lower(), quote(secret, safe="")),
        json.dumps({"token": secret}),
        json.dumps({"token": secret}, ensure_ascii=False),
        repr({"token": secret}),
    ):
        redacted = logs.redact(text, [secret])
        assert logs.REDACTED in redacted, text
        for form in logs.written_forms(secret):
            assert form not in redacted


def test_scrub_removes_secrets_from_an_exception_chain() -> None:
    from autoposter.errors import AuthError

    error = AuthError("leaky", f"refused {TOKEN}")
    error.__cause__ = ValueError(f"GET /bot{BOT_TOKEN}/getMe")
    assert logs.scrub(error, SECRETS) is error
    assert TOKEN not in error.message
    assert TOKEN not in str(error)
    assert BOT_TOKEN not in str(error.__cause__)
    assert logs.REDACTED in str(error.__cause__)
