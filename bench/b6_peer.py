"""B6 peer: the same 100 local feeds through feed2toot (PyPI) and through autoposter;
CPU per steady-state cycle (nothing new) for each, and the ratio.

feed2toot is installed in its own virtualenv, never in the project's:

    python3 -m venv /tmp/f2t && /tmp/f2t/bin/pip install feed2toot

(``F2T`` in the environment names another feed2toot executable.) It runs as
its documentation says, from cron, one process per cycle; its cache is filled
first with ``--populate-cache``. Its Mastodon account points at the local
Mastodon double; a steady-state cycle posts nothing, so the double receives
nothing. autoposter's cycle is ``Runtime.poll_all`` with the daemon's defaults
(measured in-process, as the daemon runs it, after its own warm-up cycle).
"""

from __future__ import annotations

import logging
import os
import resource
import subprocess
import tempfile
from pathlib import Path

from autoposter.runtime import Runtime
from bench.b2_poll import _ours, bench_config
from bench.common import Meter, header
from bench.serve import RemoteFeedServer
from tests.fakes.mastodon import TOKEN, FakeMastodon

F2T = os.environ.get("F2T", "/tmp/f2t/bin/feed2toot")


def _feed2toot(conf: Path, *extra: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one feed2toot process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with Meter() as meter:
        proc = subprocess.run(
            [F2T, "-c", str(conf), *extra], capture_output=True, timeout=600, check=False
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"feed2toot exited {proc.returncode}: {proc.stderr[-500:]!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, meter.wall


def run(quick: bool = False, feeds: int = 100) -> dict[str, float]:
    header(
        f"B6 peer: {feeds} local feeds, steady-state cycle (nothing new), feed2toot vs autoposter"
    )
    if not Path(F2T).exists():
        print(f"feed2toot not found at {F2T}: see bench/README.md (B6) to install it; skipped")
        return {}
    logging.disable(logging.INFO)
    out: dict[str, float] = {}
    with (
        RemoteFeedServer() as server,
        FakeMastodon() as mastodon,
        tempfile.TemporaryDirectory() as tmp,
    ):
        server.serve(range(feeds))
        d = Path(tmp)
        (d / "feeds.txt").write_text("".join(server.url(s) + "\n" for s in range(feeds)))
        (d / "user.secret").write_text(TOKEN + "\n")
        (d / "client.secret").write_text("fake-client-id\nfake-client-secret\n")
        conf = d / "feed2toot.ini"
        conf.write_text(
            f"[mastodon]\ninstance_url={mastodon.url}\nuser_credentials={d / 'user.secret'}\n"
            f"client_credentials={d / 'client.secret'}\n\n[cache]\ncachefile={d / 'cache.db'}\n"
            f"cache_limit=10000\n\n[rss]\nuri_list={d / 'feeds.txt'}\ntoot={{title}} {{link}}\n"
        )
        lock = ("--lockfile", str(d / "f2t.lock"))
        cpu0, wall0 = _feed2toot(conf, "--populate-cache", *lock)
        print(f"feed2toot first run (--populate-cache): {cpu0:.2f} s CPU, {wall0:.2f} s wall")
        runs = [_feed2toot(conf, *lock) for _ in range(2 if quick else 3)]
        f2t_cpu = min(cpu for cpu, _ in runs)
        assert not mastodon.statuses, "feed2toot posted in a steady-state cycle"
        runtime = Runtime.start(bench_config(server, feeds, d))
        try:
            runtime.poll_all()  # baseline
            runtime.poll_all()  # warm-up
            cycles = []
            for _ in range(3):
                with Meter(_ours(server)) as meter:
                    runtime.poll_all()
                cycles.append(meter.cpu)
        finally:
            runtime.close()
        ours = min(cycles)
    ratio = f2t_cpu / ours
    out.update(f2t_cpu=f2t_cpu, ours_cpu=ours, ratio=ratio)
    print(f"{'':<12}{'CPU s/cycle':>12}{'ms/feed':>9}")
    print(
        f"{'feed2toot':<12}{f2t_cpu:>12.3f}{f2t_cpu * 1000 / feeds:>9.2f}   (one process per cycle,"
        f" best of {len(runs)})"
    )
    print(f"{'autoposter':<12}{ours:>12.3f}{ours * 1000 / feeds:>9.2f}   (best of 3)")
    print(f"ratio {ratio:.0f}x less CPU: target >= 50x: {'MET' if ratio >= 50 else 'NOT MET'}")
    return out


if __name__ == "__main__":
    run()
