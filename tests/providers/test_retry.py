"""The shared retry helper: its schedule, its bounds, and how ``Retry-After`` is read."""

from __future__ import annotations

import email.utils
import time

import anyio
import pytest

from telephony.providers import CallControlError, RetryPolicy, retry_after_seconds, retry_transient


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 < (retry_after_seconds({"retry-after": in_a_minute}) or 0) <= 60
    assert retry_after_seconds({"retry-after": "soon"}) is None
    # What isdigit() lets through and float() or a date parser refuses is no wait, not a crash.
    assert retry_after_seconds({"retry-after": "²"}) is None
    assert retry_after_seconds({"retry-after": "9" * 400}) is None
    assert retry_after_seconds({}) is None


def test_waits_double_up_to_the_cap_and_a_longer_retry_after_wins() -> None:
    policy = RetryPolicy(first_delay=1.0, max_delay=3.0)
    assert 0.5 <= policy.delay(1, None) <= 1.0
    assert 1.0 <= policy.delay(2, None) <= 2.0
    assert 1.5 <= policy.delay(5, None) <= 3.0
    assert policy.delay(1, 9.0) == 9.0


def test_which_failures_are_transient() -> None:
    assert CallControlError("x", status=503).transient and CallControlError("x", status=429).transient
    assert not CallControlError("x", status=404).transient and not CallControlError("x").transient
    assert CallControlError("unreachable", transient=True).transient


async def test_a_request_that_never_answers_is_given_up_within_the_budget() -> None:
    calls = 0

    async def hangs() -> None:
        nonlocal calls
        calls += 1
        await anyio.sleep_forever()

    with anyio.fail_after(10):  # a bound for the test itself, far above the budget
        with pytest.raises(CallControlError, match=r"gave up after 0\.2 s"):
            await retry_transient(hangs, what="hang-up", call_id="c1", policy=RetryPolicy(total_seconds=0.2))
    assert calls == 1


async def test_other_errors_pass_through_untouched() -> None:
    async def broken() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await retry_transient(broken, what="hang-up", call_id="c1")
