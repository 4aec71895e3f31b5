"""The call state machine: which moves are allowed, and why the others are refused."""

from __future__ import annotations

import logging
from typing import Final, get_args

from .store.base import TERMINAL_STATES, LiveState

_log = logging.getLogger("telephony.states")

FLOW: Final = get_args(LiveState)
TERMINAL: Final = TERMINAL_STATES
_TALKING: Final = frozenset({"speaking", "listening"})


def is_terminal(state: str) -> bool:
    return state in TERMINAL


def next_state(current: str, target: str, *, call_id: str = "?") -> str:
    """Return the state after trying to move from ``current`` to ``target``.

    Terminal states absorb everything; any live state may end; speaking and listening alternate;
    other moves go forward only. A refused move keeps ``current`` and is logged, because an
    out-of-order webhook (carriers do not guarantee delivery order) is worth seeing.
    """
    if target == current:
        return current
    if current in TERMINAL:
        _log.info("call %s: ignoring %s after terminal state %s", call_id, target, current)
        return current
    if target in TERMINAL:
        return target
    if current in _TALKING and target in _TALKING:
        return target
    if target not in FLOW:
        raise ValueError(f"unknown call state {target!r}")
    if FLOW.index(target) > FLOW.index(current):
        return target
    _log.info("call %s: out-of-order event, %s -> %s refused", call_id, current, target)
    return current
