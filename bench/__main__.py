"""``python -m bench [--rounds N] [inbound|resample|outbound|webhook|turn|store ...]``: run, print tables.

With no arguments every module runs, ``ROUNDS`` times over, and each row reports the median
round. Each module's ``run()`` returns its comparisons; keeping
them separate files means a new path gets its own small, readable benchmark. The header names
the machine, Python and the versions that decide the figures, so a pasted table says what it
was measured on.
"""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ._harness import REPEATS, Result, combine, report

MODULES = ("inbound", "resample", "outbound", "webhook", "turn", "store")
ROUNDS = 3


def _cpu() -> str:
    """The CPU model where Linux tells it, else what the platform module knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _versions(*names: str) -> str:
    found = []
    for name in names:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} not installed")
    return ", ".join(found)


def main(argv: list[str]) -> int:
    rounds = ROUNDS
    if argv[:1] == ["--rounds"] and len(argv) > 1 and argv[1].isdigit() and int(argv[1]) > 0:
        rounds, argv = int(argv[1]), argv[2:]
    unknown = [name for name in argv if name not in MODULES]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(MODULES)}", file=sys.stderr
        )
        return 2
    started = time.perf_counter()
    # Imported on demand: the media modules need pipecat, the turn module needs the app.
    runs: list[Callable[[], list[Result]]] = [
        importlib.import_module(f"bench.{name}").run for name in argv or MODULES
    ]
    rounds_results: list[list[Result]] = []
    for _ in range(rounds):
        rounds_results.append([result for run in runs for result in run()])
    results = combine(rounds_results)
    print(
        f"{datetime.date.today().isoformat()}  Python {platform.python_version()}  "
        f"{platform.system()} {platform.machine()}  {_cpu()} ({os.cpu_count()} CPUs)\n"
        f"{_versions('pipecat-ai', 'soxr', 'numpy', 'msgspec', 'litestar')}\n"
        f"median of {rounds} rounds; in each, media rows take medians of {REPEATS} interleaved repeats;"
        f" whole run {time.perf_counter() - started:.1f} s\n"
    )
    print(report(results))
    print(
        "\nspeed ratio = baseline / ours: above 1 means ours is faster. The baseline is pipecat-ai for"
        " media rows, a bare parse_qs for the webhook row (a floor), and 7 separate calls for store rows."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
