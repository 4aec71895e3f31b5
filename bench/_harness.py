"""Timing and reporting shared by the benchmark modules.

Ours and the baseline are timed in alternating repeats so that CPU frequency drift or a noisy
neighbour hits both sides alike, and the median of the repeats discards the odd outlier.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

REPEATS = 25
WARMUP = 3
NOISY_SPREAD = 0.10  # interquartile range above 10% of the median: the machine was busy


@dataclass(frozen=True)
class Timing:
    """One speed comparison, in microseconds per operation.

    ``ratio`` is how many times faster ours is (above 1) or slower (below 1): the median of the
    ratios of back-to-back repeat pairs, which a burst of load on a shared machine skews less
    than the ratio of the two medians would.
    """

    name: str
    ours_us: float
    baseline_us: float
    ratio: float
    noisy: bool = False


@dataclass(frozen=True)
class Metric:
    """A figure that is not a speed (for example an audio error), lower is better."""

    name: str
    ours: float
    baseline: float
    unit: str


@dataclass(frozen=True)
class Cost:
    """What one setting costs against a reference doing the same work, in µs per operation.

    Unlike :class:`Timing` (a speed-up, higher is better) this reads as a price: ``ratio`` is
    subject / reference (median of back-to-back pairs), so 1.0 means free and a target is a
    ceiling. ``details`` carries labelled figures printed under the table.
    """

    name: str
    reference: str
    reference_us: float
    subject: str
    subject_us: float
    ratio: float
    target: float | None = None
    noisy: bool = False
    details: dict[str, str] = field(default_factory=dict)


Result = Timing | Metric | Cost


def on_loop(
    loop: asyncio.AbstractEventLoop, work: Callable[[], Coroutine[Any, Any, None]]
) -> Callable[[], None]:
    """A plain callable that runs the coroutine ``work()`` to completion on ``loop``.

    Async code under test (pipecat's serializer is async) is timed this way, and ours is wrapped
    the same way, so both sides pay the same event-loop overhead per repeat.
    """

    def run() -> None:
        loop.run_until_complete(work())

    return run


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
        ours_us=median_us(ours_ns, ops),
        baseline_us=median_us(baseline_ns, ops),
        ratio=paired_ratio(baseline_ns, ours_ns),
        noisy=is_noisy(ours_ns, baseline_ns),
    )


def paired_ratio(numerators: Sequence[int], denominators: Sequence[int]) -> float:
    """The median of per-pair ratios, each pair timed back to back."""
    return statistics.median(n / d for n, d in zip(numerators, denominators, strict=True))


def median_us(samples_ns: Sequence[int], ops: int) -> float:
    """The median of per-repeat totals, in µs per operation."""
    return statistics.median(samples_ns) / ops / 1000


def is_noisy(*samples_ns: Sequence[int]) -> bool:
    """True when any side's repeats disagree by more than ``NOISY_SPREAD``."""
    return max(_spread(s) for s in samples_ns) > NOISY_SPREAD


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
    """Render the speed table, then the cost and quality tables when present."""
    timings = [r for r in results if isinstance(r, Timing)]
    costs = [r for r in results if isinstance(r, Cost)]
    metrics = [r for r in results if isinstance(r, Metric)]
    parts: list[str] = []
    if timings:
        parts.append(
            format_table(
                ["benchmark", "ours (µs/op)", "baseline (µs/op)", "ratio (baseline/ours)"],
                [
                    [t.name, f"{t.ours_us:.2f}", f"{t.baseline_us:.2f}", f"{t.ratio:.2f}x" + " *" * t.noisy]
                    for t in timings
                ],
            )
        )
    # Costs measured against the same reference in one run share a table (reference row once).
    groups: dict[tuple[str, str], list[Cost]] = {}
    for cost in costs:
        groups.setdefault((cost.name, cost.reference), []).append(cost)
    for (name, reference), group in groups.items():
        rows = [[reference, f"{statistics.median(c.reference_us for c in group):.0f}", "1.00x"]]
        rows += [[c.subject, f"{c.subject_us:.0f}", f"{c.ratio:.2f}x" + " *" * c.noisy] for c in group]
        table = format_table([name, "µs/op", "ratio"], rows)
        for cost in group:
            if cost.target is not None:
                verdict = "met" if cost.ratio < cost.target else "NOT met"
                table += f"\ntarget: {cost.subject} under {cost.target:g}x {reference}: {verdict}"
        for cost in group:
            table += "".join(f"\n{label}: {value}" for label, value in cost.details.items())
        parts.append(table)
    if any(r.noisy for r in (*timings, *costs)):
        parts.append(f"* repeats spread more than {NOISY_SPREAD:.0%}: machine busy, rerun before trusting it")
    if metrics:
        parts.append(
            format_table(
                ["quality (lower is better)", "ours", "baseline", "unit"],
                [[m.name, f"{m.ours:g}", f"{m.baseline:g}", m.unit] for m in metrics],
            )
        )
    return "\n\n".join(parts)


def combine(rounds: Sequence[Sequence[Result]]) -> list[Result]:
    """Merge the same rows from several whole rounds into one, by medians.

    A burst of load on a shared machine can last longer than one row's repeats; rounds spread
    each row over the whole run, and the median round discards a row caught in such a burst.
    A row is flagged noisy when its rounds' ratios disagree by more than ``NOISY_SPREAD``.
    """
    if len(rounds) == 1:
        return list(rounds[0])
    merged: list[Result] = []
    for position, first in enumerate(rounds[0]):
        same = [round_[position] for round_ in rounds]
        if any(type(r) is not type(first) or r.name != first.name for r in same):
            raise ValueError(f"rounds disagree on row {position}: {[r.name for r in same]}")
        if isinstance(first, Timing):
            timings = [r for r in same if isinstance(r, Timing)]
            ratios = [t.ratio for t in timings]
            merged.append(
                Timing(
                    first.name,
                    ours_us=statistics.median(t.ours_us for t in timings),
                    baseline_us=statistics.median(t.baseline_us for t in timings),
                    ratio=statistics.median(ratios),
                    noisy=(max(ratios) - min(ratios)) / statistics.median(ratios) > NOISY_SPREAD,
                )
            )
        elif isinstance(first, Cost):
            costs = [r for r in same if isinstance(r, Cost)]
            ratios = [c.ratio for c in costs]
            merged.append(
                Cost(
                    first.name,
                    reference=first.reference,
                    reference_us=statistics.median(c.reference_us for c in costs),
                    subject=first.subject,
                    subject_us=statistics.median(c.subject_us for c in costs),
                    ratio=statistics.median(ratios),
                    target=first.target,
                    noisy=(max(ratios) - min(ratios)) / statistics.median(ratios) > NOISY_SPREAD,
                    details=costs[-1].details,
                )
            )
        else:
            merged.append(first)  # quality figures are deterministic
    return merged
