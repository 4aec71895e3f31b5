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
