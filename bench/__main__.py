"""``python -m bench [inbound|resample|outbound|webhook ...]``: run the benchmarks, print one table.

With no arguments every module runs. Each module's ``run()`` returns its comparisons; keeping
them separate files means a new path gets its own small, readable benchmark.
"""

from __future__ import annotations

import datetime
import platform
import sys
import time
from collections.abc import Callable

from . import inbound, outbound, resample, webhook
from ._harness import Result, report

MODULES: dict[str, Callable[[], list[Result]]] = {
    "inbound": inbound.run,
    "resample": resample.run,
    "outbound": outbound.run,
    "webhook": webhook.run,
}


def main(argv: list[str]) -> int:
    unknown = [name for name in argv if name not in MODULES]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(MODULES)}", file=sys.stderr
        )
        return 2
    started = time.perf_counter()
    results: list[Result] = []
    for name in argv or MODULES:
        results.extend(MODULES[name]())
    print(
        f"{datetime.date.today().isoformat()}  Python {platform.python_version()}  "
        f"{platform.machine()}  {time.perf_counter() - started:.1f} s\n"
    )
    print(report(results))
    print("\nratio = baseline / ours: above 1 means ours is faster. Medians of interleaved repeats.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
