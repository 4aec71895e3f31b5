"""Timing and reporting shared by the benchmark modules.

Ours and the baseline are timed in alternating repeats so that CPU frequency drift or a noisy
neighbour hits both sides alike, and the median of the repeats discards the odd outlier.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

REPEATS = 25
WARMUP = 3
NOISY_SPREAD = 0.10  # interquartile range above 10% of the median: the machine was busy


@dataclass(frozen=True)
class Timing:
    """One speed comparison, in microseconds per operation."""

    name: str
    ours_us: float
    baseline_us: float
    noisy: bool = False

    @property
    def ratio(self) -> float:
        """How many times faster ours is (above 1) or slower (below 1)."""
        return self.baseline_us / self.ours_us


@dataclass(frozen=True)
class Metric:
    """A figure that is not a speed (for example an audio error), lower is better."""

    name: str
    ours: float
    baseline: float
    unit: str


Result = Timing | Metric


def _spread(samples: Sequence[int]) -> float:
    """Interquartile range relative to the median, a robust 'how much did repeats disagree'."""
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return (q3 - q1) / statistics.median(samples)


def _once(run: Callable[[], object]) -> int:
    start = time.perf_counter_ns()
    run()
    return time.perf_counter_ns() - start


def compare(
    name: str,
    ours: Callable[[], object],
    baseline: Callable[[], object],
    *,
    ops: int,
    repeats: int = REPEATS,
    warmup: int = WARMUP,
) -> Timing:
    """Time two callables that each perform ``ops`` operations; report the median µs per op.

    Each callable should loop over many operations itself, so call overhead is amortised and
    the figure is per frame (or per request), not per Python call.
    """
    for _ in range(warmup):
        ours()
        baseline()
    ours_ns: list[int] = []
    baseline_ns: list[int] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection landing in one side's timed region would skew a single repeat
    try:
        for i in range(repeats):
            # Alternate who goes first so cache warmth after the other side is shared evenly.
            if i % 2:
                baseline_ns.append(_once(baseline))
                ours_ns.append(_once(ours))
            else:
                ours_ns.append(_once(ours))
                baseline_ns.append(_once(baseline))
    finally:
        if gc_was_enabled:
            gc.enable()
    return Timing(
        name,
        ours_us=statistics.median(ours_ns) / ops / 1000,
        baseline_us=statistics.median(baseline_ns) / ops / 1000,
        noisy=max(_spread(ours_ns), _spread(baseline_ns)) > NOISY_SPREAD,
    )


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain left/right aligned text table (first column left, others right)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def report(results: Sequence[Result]) -> str:
    """Render the speed table and, when present, the quality table."""
    timings = [r for r in results if isinstance(r, Timing)]
    metrics = [r for r in results if isinstance(r, Metric)]
    parts = [
        format_table(
            ["benchmark", "ours (µs/op)", "baseline (µs/op)", "ratio (baseline/ours)"],
            [
                [t.name, f"{t.ours_us:.2f}", f"{t.baseline_us:.2f}", f"{t.ratio:.2f}x" + " *" * t.noisy]
                for t in timings
            ],
        )
    ]
    if any(t.noisy for t in timings):
        parts[0] += f"\n* repeats spread more than {NOISY_SPREAD:.0%}: machine busy, rerun before trusting it"
    if metrics:
        parts.append(
            format_table(
                ["quality (lower is better)", "ours", "baseline", "unit"],
                [[m.name, f"{m.ours:g}", f"{m.baseline:g}", m.unit] for m in metrics],
            )
        )
    return "\n\n".join(parts)
