"""On-demand benchmarks: each compares our hot path to a plain baseline measured in the same run.

Figures are reported as ratios (baseline / ours) because absolute microseconds depend on the
machine; a ratio measured side by side in one process is what stays comparable over time. Run
with ``make bench`` or ``python -m bench``; nothing here is imported by the tests.
"""
