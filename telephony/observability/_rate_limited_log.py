"""A log that keeps at most a few lines a minute for what strangers can trigger at will.

Junk webhooks, scanners, idle sockets and malformed media frames are refused one at a time; a
line for each would let anyone fill the disk and bury the lines that matter.
"""

from __future__ import annotations

import logging
import time

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """Logs at most ``per_minute`` warnings a minute, then says how many it held back.

    Args:
        logger: Where the lines go.
        per_minute: Lines kept per minute.
        what: What the held-back lines were, for the summary ("rejected requests").
    """

    def __init__(
        self, logger: logging.Logger, per_minute: int = 10, *, what: str = "rejected requests"
    ) -> None:
        self._logger = logger
        self._per_minute = per_minute
        self._what = what
        self._window = 0.0
        self._count = 0
        self._held = 0

    def warning(self, message: str, *args: object) -> None:
        """Log ``message % args`` unless this minute's lines are used up."""
        now = time.monotonic()
        if now - self._window >= 60:
            if self._held:
                self._logger.warning("%d more %s were not logged in the last minute", self._held, self._what)
            self._window, self._count, self._held = now, 0, 0
        if self._count < self._per_minute:
            self._count += 1
            self._logger.warning(message, *args)
        else:
            self._held += 1
