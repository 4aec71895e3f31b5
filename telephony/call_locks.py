"""One handler at a time per call: in this process always, across instances on a shared store.

A call's webhooks, timers and control requests each load its record, change it and save it
whole; two of them at once would lose one's changes (a "completed" status overwritten by a turn
that was still running keeps a finished call live). Within a process an asyncio lock per call
orders them. When several instances share the store (Redis), a webhook for the same call may
run on another instance meanwhile, so the lock is also taken in the store, as a claim with a
lease renewed while it is held: a holder that dies frees the call when its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final

import anyio

from .store import CallStore, ClaimOutcome
from .store.base import new_owner
from .store.leases import keep_claim

__all__ = ["CallLocks"]


FIRST_POLL_SECONDS: Final = 0.01
LONGEST_POLL_SECONDS: Final = 0.1
"""A waiter asks the store again after these pauses, doubling from the first to the longest."""


class CallLocks:
    """Per-call locks: ``async with locks[call_id]:``.

    Args:
        store: The call store; when its ``shared`` attribute is true, the locks are held there too.
        lease_seconds: How long a store lock outlives its holder's last renewal.
    """

    def __init__(self, store: CallStore, *, lease_seconds: float) -> None:
        self.store = store
        self.shared = bool(getattr(store, "shared", False))
        self.lease_seconds = lease_seconds
        # Weak: a lock is forgotten once no task holds or awaits it. A server runs for months
        # and sees calls come and go; a plain dict would keep a lock for every call ever seen.
        self._local: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __getitem__(self, call_id: str) -> AbstractAsyncContextManager[None]:
        return self._hold(call_id)

    def __len__(self) -> int:
        """Calls whose lock is held or awaited in this process."""
        return len(self._local)

    def _local_lock(self, call_id: str) -> asyncio.Lock:
        lock = self._local.get(call_id)
        if lock is None:
            lock = self._local[call_id] = asyncio.Lock()
        return lock

    @asynccontextmanager
    async def _hold(self, call_id: str) -> AsyncIterator[None]:
        async with self._local_lock(call_id):
            if not self.shared:
                yield
                return
            key, owner = f"lock:{call_id}", new_owner()
            await self._acquire(key, call_id, owner)
            lost = "a call lock was lost: its holder stalled past its lease"
            renewing = asyncio.create_task(keep_claim(self.store, key, owner, self.lease_seconds, lost=lost))
            try:
                yield
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
                with anyio.CancelScope(shield=True):
                    await self.store.release_event(key, owner=owner)

    async def _acquire(self, key: str, call_id: str, owner: str) -> None:
        pause = FIRST_POLL_SECONDS
        lease = self.lease_seconds
        while await self.store.claim_event(key, call_id, lease_seconds=lease, owner=owner) is not (
            ClaimOutcome.WON
        ):
            await anyio.sleep(pause)
            pause = min(pause * 2, LONGEST_POLL_SECONDS)
