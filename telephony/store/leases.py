"""Keeping a claim alive: the renewal loop every lease holder runs.

A webhook's handler, a live media stream and a call lock on a shared store each hold a claim
(:meth:`~telephony.store.CallStore.claim_event`) whose lease must outlive them only if they die.
They renew it every third of the lease, so two renewals can fail before it runs out.
"""

from __future__ import annotations

import logging

import anyio

from .base import CallStore, StoreUnavailable

__all__ = ["keep_claim"]

_log = logging.getLogger("telephony.store")


async def keep_claim(
    store: CallStore, claim_id: str, owner: str, lease_seconds: float, *, lost: str | None = None
) -> None:
    """Renew ``owner``'s claim until cancelled, or until it is no longer theirs to renew.

    A failed renewal is tried again at the next beat: one bad write must not end a live call (an
    unreachable store is logged once for the whole outage, other failures each time). A renewal
    the store refuses means the claim is done (a webhook's answer is stored) or was taken over
    after this process stalled past its lease; ``lost``, when given, is logged then.
    """
    while True:
        await anyio.sleep(lease_seconds / 3)
        try:
            renewed = await store.renew_event(claim_id, lease_seconds, owner=owner)
        except StoreUnavailable:
            continue  # the outage is logged once, by the store's health; renewed once it is back
        except Exception as exc:
            _log.warning("renewing claim %s failed (%s); trying again", claim_id[:24], type(exc).__name__)
            continue
        if not renewed:
            if lost is not None:
                _log.warning("%s", lost)
            return
