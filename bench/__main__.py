"""Run the benchmarks: ``python -m bench all`` (or b1 ... b6; ``--quick``: smaller sizes)."""

from __future__ import annotations

import argparse
import logging
import time

from bench import b1_parse, b2_poll, b3_dedupe, b4_latency, b5_memory, b6_peer
from bench.common import machine

BENCHES = {
    "b1": b1_parse.run,
    "b2": b2_poll.run,
    "b3": b3_dedupe.run,
    "b4": b4_latency.run,
    "b5": b5_memory.run,
    "b6": b6_peer.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("which", nargs="*", default=["all"], help="all, or b1 ... b6")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    names = list(BENCHES) if "all" in args.which else args.which
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    logging.basicConfig(level=logging.WARNING)
    print(f"machine: {machine()}")
    started = time.perf_counter()
    for name in names:
        BENCHES[name](quick=args.quick)
    print(f"\nall done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
