"""The control bus of a single process: the stream, if any, is here."""

from __future__ import annotations

import anyio
from anyio.abc import TaskStatus

from .base import ABSENT, ControlHandler, ControlReply, ControlRequest, answer

__all__ = ["LocalControlBus"]


class LocalControlBus:
    """Hands each request to this process's own handler; no other instance can hold a stream."""

    def __init__(self) -> None:
        self._handler: ControlHandler | None = None

    async def serve(self, handler: ControlHandler, *, task_status: TaskStatus[None]) -> None:
        """Take requests until cancelled."""
        self._handler = handler
        try:
            task_status.started()
            await anyio.sleep_forever()
        finally:
            self._handler = None

    async def request(self, request: ControlRequest) -> ControlReply:
        """This process's answer; ``absent`` while not serving."""
        if self._handler is None:
            return ABSENT
        return await answer(self._handler, request)
