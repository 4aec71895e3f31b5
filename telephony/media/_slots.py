"""Who may hold a media socket: streams whose credential was good, and a few that have none yet.

A stream URL carries its call's token in the path, checked on the HTTP upgrade: a socket that
passes takes a live slot at once, and one that fails is refused before it is accepted and holds
nothing. Carriers open many streams from a few addresses, so live slots know no addresses.

A socket on the bare stream path proves nothing until its ``start`` message carries a valid
token, and anyone can open one. Counting such sockets against the live limit would let a few
hundred idle connections lock every real call's stream out; so they wait in a pool of their
own, capped in total and per client address, and take a live slot only once their token is
accepted. That pool is the second line: no socket with a credential in its URL ever waits in it.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from telephony.providers import TelephonyError

__all__ = ["StreamSlot", "StreamSlots", "StreamSlotsFull"]


class StreamSlotsFull(TelephonyError):
    """A socket is refused: the limit its message names is reached."""


class StreamSlot:
    """One socket's place: pending until :meth:`promote`, freed by :meth:`release` (idempotent)."""

    __slots__ = ("_slots", "address", "state")

    def __init__(self, slots: StreamSlots, address: str) -> None:
        self._slots = slots
        self.address = address
        self.state: Literal["pending", "live", "released"] = "pending"

    def promote(self) -> bool:
        """Move from the pending pool to a live slot; False (still pending) when none is free."""
        if self.state != "pending":
            return self.state == "live"
        if self._slots.live >= self._slots.max_live:
            return False
        self._slots._unpend(self.address)
        self._slots.live += 1
        self.state = "live"
        return True

    def release(self) -> None:
        """Give the slot back, whichever pool it is in."""
        if self.state == "pending":
            self._slots._unpend(self.address)
        elif self.state == "live":
            self._slots.live -= 1
        self.state = "released"


class StreamSlots:
    """The counters of one server's media sockets.

    Args:
        max_pending: Sockets waiting for their ``start`` message, in total.
        max_pending_per_address: The same, per client address.
        max_live: Authenticated streams.
    """

    def __init__(self, *, max_pending: int, max_pending_per_address: int, max_live: int) -> None:
        self.max_pending = max_pending
        self.max_pending_per_address = max_pending_per_address
        self.max_live = max_live
        self.live = 0
        self._pending: Counter[str] = Counter()

    @property
    def pending(self) -> int:
        """Sockets not yet authenticated."""
        return self._pending.total()

    def pending_from(self, address: str) -> int:
        """Sockets not yet authenticated from ``address``."""
        return self._pending[address]

    def claim_live(self, address: str) -> StreamSlot:
        """A live slot for a socket whose credential was accepted on the upgrade.

        Raises:
            StreamSlotsFull: When ``streaming.maxConnections`` streams are live.
        """
        if self.live >= self.max_live:
            raise StreamSlotsFull(f"streaming.maxConnections ({self.max_live}) reached")
        self.live += 1
        slot = StreamSlot(self, address)
        slot.state = "live"
        return slot

    def claim(self, address: str) -> StreamSlot:
        """A pending slot for a new socket from ``address``.

        Raises:
            StreamSlotsFull: When the pool, or this address's share of it, is full.
        """
        if self._pending[address] >= self.max_pending_per_address:
            raise StreamSlotsFull(
                f"streaming.maxPendingConnectionsPerIp ({self.max_pending_per_address}) reached for {address}"
            )
        if self.pending >= self.max_pending:
            raise StreamSlotsFull(f"streaming.maxPendingConnections ({self.max_pending}) reached")
        self._pending[address] += 1
        return StreamSlot(self, address)

    def _unpend(self, address: str) -> None:
        self._pending[address] -= 1
        if self._pending[address] <= 0:
            del self._pending[address]
