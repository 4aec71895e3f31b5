"""Retrying a carrier REST request that is safe to repeat, with bounded exponential backoff.

Only requests whose repetition changes nothing (a hang-up, a command carrying an idempotency
key) may go through :func:`retry_transient`: a request whose answer was lost may have been
carried out, and the retry must then be harmless. Every adapter uses this one helper, so the
schedule, the bounds and what is logged are the same on every carrier.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Final, TypeVar

import anyio
import msgspec

from ._errors import CallControlError
from ._numbers import parse_decimal

__all__ = ["DEFAULT_RETRY", "RetryPolicy", "retry_after_seconds", "retry_transient"]

_log = logging.getLogger("telephony.carrier")
T = TypeVar("T")


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How often, and for how long, a transient failure is retried.

    Attributes:
        attempts: Requests in all, the first included.
        first_delay: Seconds before the first retry; each later wait doubles, with jitter.
        max_delay: The longest single wait.
        total_seconds: The whole budget, waits and requests included: a retry that could not
            finish inside it is not started, and a request still running at its end is given up.
    """

    attempts: int = 4
    first_delay: float = 0.5
    max_delay: float = 4.0
    total_seconds: float = 20.0

    def delay(self, retry: int, retry_after: float | None) -> float:
        """The wait before retry number ``retry`` (1-based); a carrier's ``Retry-After`` wins if longer."""
        backoff = min(self.max_delay, self.first_delay * 2.0 ** (retry - 1))
        backoff *= 0.5 + random.random() / 2  # jitter: calls that failed together retry apart
        return max(backoff, retry_after or 0.0)


DEFAULT_RETRY: Final = RetryPolicy()


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait a ``Retry-After`` header asks for (seconds or an HTTP date), or None."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    seconds = parse_decimal(value, max_digits=9)
    if seconds is not None:
        return float(seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def retry_transient(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    call_id: str,
    policy: RetryPolicy = DEFAULT_RETRY,
) -> T:
    """Run ``operation``; repeat it on a transient :class:`CallControlError`, within ``policy``.

    Args:
        operation: Makes one fresh request each time it is called.
        what: The request, for logs (``Twilio hang-up``).
        call_id: Our call id, for logs.
        policy: Attempts, waits and the total budget.

    Returns:
        What ``operation`` returned.

    Raises:
        CallControlError: The carrier refused for good (a 4xx other than 429, not retried), or
            every attempt failed, or the budget ran out; each failure is logged with its cause.
    """
    deadline = time.monotonic() + policy.total_seconds
    attempt = 0
    while True:
        attempt += 1
        try:
            with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                return await operation()
        except TimeoutError:
            _log.error(
                "call %s: %s gave up: no answer within %.1f s (attempt %d)",
                call_id,
                what,
                policy.total_seconds,
                attempt,
            )
            raise CallControlError(
                f"{what} gave up after {policy.total_seconds:g} s without an answer", transient=True
            ) from None
        except CallControlError as exc:
            if not exc.transient:
                _log.warning("call %s: %s refused, not retried (%s)", call_id, what, exc)
                raise
            delay = policy.delay(attempt, exc.retry_after)
            if attempt >= policy.attempts or time.monotonic() + delay >= deadline:
                _log.error(
                    "call %s: %s failed, giving up after %d attempts (%s)", call_id, what, attempt, exc
                )
                raise
            _log.warning(
                "call %s: %s failed, attempt %d of %d (%s); retrying in %.2f s",
                call_id,
                what,
                attempt,
                policy.attempts,
                exc,
                delay,
            )
            await anyio.sleep(delay)
