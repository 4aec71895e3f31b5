"""Inbound call screening (caller-ID based, so low-assurance: caller ID can be spoofed)."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["inbound_allowed"]

_NON_DIGITS = re.compile(r"\D")


def _digits(number: str) -> str:
    return _NON_DIGITS.sub("", number)


def inbound_allowed(policy: str, caller: str | None, allow_from: Iterable[str]) -> bool:
    """Whether an inbound call from ``caller`` may be answered.

    Numbers match on their digits exactly (no suffix matching); a missing or anonymous caller
    never matches an allowlist.
    """
    if policy == "open":
        return True
    if policy == "disabled":
        return False
    digits = _digits(caller or "")
    if not digits:
        return False
    return any(digits == _digits(allowed) for allowed in allow_from)
