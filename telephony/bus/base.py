"""Control requests between server instances: what is asked, what comes back, and the contract.

A media stream is a WebSocket held by one process. With several instances behind a load
balancer, ``speak`` or ``end`` for a stream call may reach an instance that does not hold its
stream; that instance asks all of them over a :class:`ControlBus`, and the one holding the stream
acts. The engine does not know which bus it has: one process gets :class:`LocalControlBus`,
instances sharing a Redis store get the Redis one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

import msgspec
from anyio.abc import TaskStatus

from telephony.providers import CallControlError, TelephonyError

__all__ = [
    "ControlBus",
    "ControlFailed",
    "ControlHandler",
    "ControlReply",
    "ControlRequest",
    "ControlTimeout",
    "ControlUnavailable",
    "answer",
]

_log = logging.getLogger("telephony.bus")


class ControlRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One control action for the instance holding a call's stream.

    Attributes:
        op: ``speak`` says ``text`` on the call; ``end`` hangs it up.
        call_id: The call.
        text: What to say (``speak``).
        reason: The end reason to record (``end``).
        force: End the call even if the carrier refuses the hang-up (``end``).
    """

    op: Literal["speak", "end"]
    call_id: str
    text: str = ""
    reason: str = "hangup-bot"
    force: bool = False


class ControlReply(msgspec.Struct, frozen=True, kw_only=True):
    """One instance's answer to a :class:`ControlRequest`.

    Attributes:
        outcome: ``done`` (it holds the stream and acted), ``absent`` (it does not hold the
            stream), or ``failed`` (it holds the stream, and acting raised).
        error: The failure's class name (``CallNotLive``), so the asker can raise its like.
        message: The failure's message, free of secrets as every error message is.
        status: The carrier's HTTP status, for a :class:`CallControlError`.
    """

    outcome: Literal["done", "absent", "failed"]
    error: str = ""
    message: str = ""
    status: int | None = None


ABSENT = ControlReply(outcome="absent")
DONE = ControlReply(outcome="done")

ControlHandler = Callable[[ControlRequest], Awaitable[bool]]
"""Acts on a request if this instance holds the call's stream (True), else returns False."""


class ControlUnavailable(TelephonyError):
    """The other instances cannot be asked (the bus's connection is down): answered 502."""


class ControlTimeout(TelephonyError):
    """An instance that may hold the stream did not answer in time: answered 504."""


class ControlFailed(TelephonyError):
    """The instance holding the stream failed unexpectedly; its log has the details: answered 502."""


class ControlBus(Protocol):
    """How a control request reaches the instance holding a call's stream."""

    async def serve(self, handler: ControlHandler, *, task_status: TaskStatus[None]) -> None:
        """Answer requests with ``handler`` until cancelled; report started once listening."""
        ...

    async def request(self, request: ControlRequest) -> ControlReply:
        """Ask every instance; the reply of the one holding the stream, or ``absent`` if none does.

        Raises:
            ControlUnavailable: The instances cannot be reached.
            ControlTimeout: Some instance did not answer in time.
        """
        ...


async def answer(handler: ControlHandler, request: ControlRequest) -> ControlReply:
    """Run ``handler`` and turn what happened into a reply (every bus answers this way)."""
    try:
        return DONE if await handler(request) else ABSENT
    except TelephonyError as exc:
        status = exc.status if isinstance(exc, CallControlError) else None
        return ControlReply(outcome="failed", error=type(exc).__name__, message=str(exc), status=status)
    except Exception:
        _log.exception("call %s: %s asked by another instance failed", request.call_id, request.op)
        return ControlReply(
            outcome="failed", message=f"{request.op} failed on the instance holding the call's stream"
        )
