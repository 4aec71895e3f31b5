"""Numbers that arrive as text from carriers: timestamps, turns, sample rates, error codes."""

from __future__ import annotations


def parse_decimal(value: str | None, *, max_digits: int) -> int | None:
    """The value of ``value`` when it is plain ASCII digits, at most ``max_digits`` of them.

    None for anything else. ``str.isdigit`` is True for characters ``int`` refuses (``"²"``),
    and ``int`` accepts what no carrier sends (signs, spaces, underscores, other scripts'
    digits, thousands of digits): a check with one and a conversion with the other turns a
    malformed field into an unhandled exception instead of a refusal.
    """
    if not value or len(value) > max_digits or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


def media_timestamp_ms(value: str | int | float | None) -> int | None:
    """A media frame's timestamp in milliseconds, as carriers send it (text or number).

    None for anything that is not a plain non-negative number: a frame with a strange timestamp
    is still audio, and the timestamp only feeds the frame-lag metric.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if 0 <= value < 2**63 else None  # NaN fails both comparisons
    return parse_decimal(value, max_digits=18)
