"""Measuring helpers shared by the benchmarks: CPU of this process and of given pids, RSS."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterable
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (0.0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (0.0 if it is gone)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return pages * _PAGE / 1e6


def children(pid: int) -> list[int]:
    """Every descendant of ``pid``."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for kid in kids:
                found.append(int(kid))
                todo.append(int(kid))
    return found


class Meter:
    """Wall time and CPU of this process plus extra pids (``self_cpu`` is this process only)."""

    def __init__(self, pids: Iterable[int] = ()) -> None:
        self.pids = list(pids)
        self.wall = self.cpu = self.self_cpu = self.peak_cores = 0.0

    def __enter__(self) -> Meter:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self._extra = {pid: proc_cpu(pid) for pid in self.pids}
        return self

    def add(self, pids: Iterable[int]) -> None:
        """Count processes started during the measure (their CPU from zero)."""
        for pid in pids:
            self._extra.setdefault(pid, 0.0)

    def __exit__(self, *_exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.self_cpu = time.process_time() - self._cpu
        extra = sum(proc_cpu(pid) - start for pid, start in self._extra.items())
        self.cpu = self.self_cpu + extra


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def header(title: str) -> None:
    print(f"\n== {title} ==", flush=True)
