"""Whether the call store answers: one outage is one line when it starts and one when it ends.

Every store operation reports its outcome here (the runtime's :class:`~telephony.store.TimedStore`
does it for any backend). While the store is down, every webhook and stream turn fails the same
way; logging each would bury the log, so the outage is logged once as it starts, with its cause,
and once as it ends, with how long it lasted and how many operations failed meanwhile.
``/health`` reads it, so a load balancer stops sending calls to an instance that cannot serve them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["StoreHealth"]

_log = logging.getLogger("telephony.store")


class StoreHealth:
    """The store's state as its operations last found it.

    Args:
        clock: Monotonic seconds (tests may move it).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.down_since: float | None = None
        """When the first operation of the current outage failed, or None while the store answers."""
        self.recovered_at: float | None = None
        """When the last outage ended, or None if there was none."""
        self.cause = ""
        """Why the current outage began (the first failure's error type and message)."""
        self._failures = 0

    @property
    def up(self) -> bool:
        """Whether the store's last operation was answered."""
        return self.down_since is None

    def failed(self, cause: BaseException | str) -> None:
        """An operation found the store unreachable; the first of an outage logs it."""
        self._failures += 1
        if self.down_since is not None:
            return
        self.down_since = self._clock()
        self.cause = cause if isinstance(cause, str) else _describe(cause)
        _log.error(
            "call store unreachable (%s): callers are asked to hold on and their turns are tried again "
            "until it answers; /health reports 503",
            self.cause,
        )

    def answered(self) -> None:
        """An operation was answered; the first after an outage logs its end."""
        if self.down_since is None:
            return
        now = self._clock()
        _log.warning(
            "call store reachable again after %.1f s (%d operations failed meanwhile); serving calls",
            now - self.down_since,
            self._failures,
        )
        self.down_since = None
        self.recovered_at = now
        self.cause = ""
        self._failures = 0

    def settling(self, seconds: float) -> bool:
        """Whether the store is down, or came back less than ``seconds`` ago.

        Leases could not be renewed during an outage; a sweep that judges them must give their
        holders this long to renew before it takes a lapsed lease for a dead holder.
        """
        if self.down_since is not None:
            return True
        return self.recovered_at is not None and self._clock() - self.recovered_at < seconds


def _describe(exc: BaseException) -> str:
    """The failure as one short line: the underlying error's type and message, no traceback."""
    cause = exc.__cause__ or exc
    message = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {message}" if message else type(cause).__name__
