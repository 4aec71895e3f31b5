"""Call states, and the state machine: which moves are allowed, and why the others are refused.

States are a ``StrEnum`` whose values are the strings stored in call records and returned by the
control API, so typing them changed nothing on disk or on the wire: ``CallState.NO_ANSWER ==
"no-answer"``, and a record written before the enum decodes into it.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Final, get_args

from telephony.providers import EndReason

__all__ = ["ACTIVE_STATES", "FLOW", "TERMINAL_STATES", "CallState", "is_terminal", "next_state"]

_log = logging.getLogger("telephony.states")


class CallState(StrEnum):
    """Where a call is.

    Live states come first, in the order a call moves through them; the terminal ones are
    exactly the carrier-neutral end reasons (``EndReason``).
    """

    INITIATED = "initiated"
    RINGING = "ringing"
    ANSWERED = "answered"
    ACTIVE = "active"
    SPEAKING = "speaking"
    LISTENING = "listening"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    HANGUP_USER = "hangup-user"
    HANGUP_BOT = "hangup-bot"
    TIMEOUT = "timeout"
    ERROR = "error"
    VOICEMAIL = "voicemail"


TERMINAL_STATES: Final[frozenset[CallState]] = frozenset(CallState(reason) for reason in get_args(EndReason))
"""States a call never leaves; building it fails at import if an end reason has no state."""

FLOW: Final[tuple[CallState, ...]] = tuple(state for state in CallState if state not in TERMINAL_STATES)
"""The live states, in order."""

ACTIVE_STATES: Final[frozenset[CallState]] = frozenset(FLOW)
"""Every state that is not terminal (SQL filters use these with the state index)."""

_TALKING: Final = frozenset({CallState.SPEAKING, CallState.LISTENING})


def is_terminal(state: str) -> bool:
    """True for a state a call never leaves."""
    return state in TERMINAL_STATES


def next_state(current: str, target: str, *, call_id: str = "?") -> CallState:
    """Return the state after trying to move from ``current`` to ``target``.

    Terminal states absorb everything; any live state may end; speaking and listening alternate;
    other moves go forward only. A refused move keeps ``current`` and is logged, because an
    out-of-order webhook (carriers do not guarantee delivery order) is worth seeing.

    Raises:
        ValueError: ``target`` (or ``current``) is not a call state.
    """
    now = _state(current)
    if target == now:
        return now
    if now in TERMINAL_STATES:
        _log.info("call %s: ignoring %s after terminal state %s", call_id, target, now)
        return now
    wanted = _state(target)
    if wanted in TERMINAL_STATES or (now in _TALKING and wanted in _TALKING):
        return wanted
    if FLOW.index(wanted) > FLOW.index(now):
        return wanted
    _log.info("call %s: out-of-order event, %s -> %s refused", call_id, now, wanted)
    return now


def _state(name: str) -> CallState:
    try:
        return CallState(name)
    except ValueError:
        raise ValueError(f"unknown call state {name!r}") from None
