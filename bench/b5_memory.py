"""B5 memory: the daemon (``autoposter run``, default settings) with 1,000 feeds and 7
accounts after 10 poll cycles, then while it parses a 10 MB feed.

Resident memory is read from /proc: RSS of each process, and PSS (shared pages
divided among the processes sharing them) for the total of the daemon, its
forkserver and its parse workers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.b2_poll import ACCOUNTS
from bench.common import children, header, proc_cpu, rss_mb
from bench.feeds import rss_feed
from bench.serve import RemoteFeedServer

ROOT = Path(__file__).resolve().parent.parent
INTERVAL = 10  # seconds: the shortest poll interval the configuration accepts


def pss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1000
    except OSError:
        pass
    return 0.0


def _snapshot(pid: int) -> tuple[float, float, list[float]]:
    """(daemon RSS, PSS total of the daemon and its descendants, RSS of each descendant)."""
    kids = children(pid)
    return rss_mb(pid), pss_mb(pid) + sum(pss_mb(k) for k in kids), [rss_mb(k) for k in kids]


def _tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants (forkserver, parse workers)."""
    return proc_cpu(pid) + sum(proc_cpu(kid) for kid in children(pid))


def _sdk_cost() -> float:
    """MB of resident memory that importing every publisher adds to the daemon's modules."""
    script = (
        "import re\n"
        "from autoposter import cli, daemon\n"
        "from autoposter.publishers import available\n"
        "def rss():\n"
        "    status = open('/proc/self/status').read()\n"
        "    return int(re.search(r'VmRSS:\\s+(\\d+)', status).group(1))\n"
        "before = rss()\n"
        "available()\n"
        "print(rss() - before)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return int(done.stdout) / 1024


def _daemon_command() -> list[str]:
    script = shutil.which("autoposter", path=str(Path(sys.executable).parent))
    # The console script, as systemd and the container run it.
    return [script] if script else [sys.executable, "-m", "autoposter"]


def run(quick: bool = False, feeds: int = 1000, cycles: int = 10) -> dict[str, float]:
    if quick:
        feeds, cycles = 300, 3
    header(
        f"B5 memory: `autoposter run` with {feeds} feeds, {len(ACCOUNTS)} accounts, "
        f"{cycles} cycles at {INTERVAL} s, then a 10 MB feed"
    )
    out: dict[str, float] = {}
    with RemoteFeedServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.serve(range(feeds))
        big_small = rss_feed(90_000, 15)
        server.raw("/big/feed", big_small)
        config = {
            "database": f"sqlite:///{Path(tmp) / 'autoposter.db'}",
            "defaults": {"poll_interval": f"{INTERVAL}s"},
            "accounts": {name: {"type": "console"} for name in ACCOUNTS},
            "feeds": {
                **{
                    f"commune{s}": {"url": server.url(s), "accounts": list(ACCOUNTS)}
                    for s in range(feeds)
                },
                "big": {"url": server.base_url + "/big/feed", "accounts": list(ACCOUNTS)},
            },
        }
        path = Path(tmp) / "autoposter.yaml"
        path.write_text(yaml.safe_dump(config))
        log = open(Path(tmp) / "daemon.log", "wb")  # noqa: SIM115
        daemon = subprocess.Popen(
            [*_daemon_command(), "run", "--config", str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            target = (feeds + 1) * cycles
            deadline = time.monotonic() + 60 + cycles * INTERVAL * 4
            steady: tuple[int, float] | None = None  # (requests, CPU) once the baseline is done
            while server.request_count() < target:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"daemon stopped or too slow: {daemon.returncode}")
                if steady is None and server.request_count() >= (feeds + 1) * 2:
                    steady = (server.request_count(), _tree_cpu(daemon.pid))
                time.sleep(0.5)
            if steady is not None:
                polls = server.request_count() - steady[0]
                cpu = _tree_cpu(daemon.pid) - steady[1]
                out["daemon_ms_per_poll"] = cpu * 1000 / polls
                print(
                    f"the running daemon, cycles 3 to {cycles} (nothing new, jobs spread over "
                    f"{INTERVAL} s): {cpu:.1f} s CPU for {polls:,} polls = "
                    f"{out['daemon_ms_per_poll']:.3f} ms per poll, everything included"
                )
            main, total, kids = _snapshot(daemon.pid)
            out.update(after_rss=main, after_pss=total)
            print(
                f"after {cycles} cycles ({server.request_count():,} requests): daemon RSS "
                f"{main:.1f} MB; descendants RSS {', '.join(f'{k:.1f}' for k in kids)} MB; "
                f"PSS total {total:.1f} MB"
            )
            body = rss_feed(90_001, 120, paragraphs=64)  # 9.7 MB, under the 10 MB cap
            server.raw("/big/feed", body)
            before = server.request_count()
            peak_main = peak_total = 0.0
            peak_kids: list[float] = []
            end = time.monotonic() + INTERVAL * 2 + 20
            while time.monotonic() < end:
                main, total, kids = _snapshot(daemon.pid)
                peak_main = max(peak_main, main)
                if total > peak_total:
                    peak_total, peak_kids = total, kids
                time.sleep(0.05)
            out.update(big_rss=peak_main, big_pss=peak_total)
            meanwhile = server.request_count() - before
            print(
                f"while parsing a {len(body) / 1e6:.1f} MB feed ({meanwhile:,}"
                f" requests meanwhile): peak daemon RSS {peak_main:.1f} MB; at the PSS peak, "
                f"descendants RSS {', '.join(f'{k:.1f}' for k in peak_kids)} MB; "
                f"peak PSS total {peak_total:.1f} MB"
            )
        finally:
            daemon.terminate()
            try:
                daemon.wait(20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
            log.close()
            tail = (Path(tmp) / "daemon.log").read_text(errors="replace").splitlines()
            parsed_big = [line for line in tail if "feed=big" in line]
            if parsed_big:
                print("  daemon log, big feed:", parsed_big[-1][:200])
    sdks = _sdk_cost()
    out["sdk_mb"] = sdks
    print(
        f"the seven networks' SDKs (Mastodon.py, atproto, tweepy, facebook-sdk, ...), loaded "
        f"only for the account types configured, would add {sdks:.0f} MB RSS to the daemon"
    )
    met = max(out.get("after_pss", 1e9), out.get("big_pss", 1e9)) <= 100
    print(f"target <= 100 MB resident (PSS, all processes): {'MET' if met else 'NOT MET'}")
    return out


if __name__ == "__main__":
    run()
