"""Shared fixtures; helper modules live beside this file (``pythonpath`` in pyproject)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
import respx
from hypothesis import settings
from redis_server import flush, redis_server
from twilio_helpers import ACCOUNT_SID, CALL_SID

TWILIO_CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls"
LOCAL_HOSTS = ("127.0.0.1", "localhost")

# Property tests (tests/properties): a modest, fixed budget by default so the suite stays quick;
# TELEPHONY_HYPOTHESIS_PROFILE=thorough searches twenty times longer. No deadline: a slow
# example on a busy machine is not a failure, and timing is never what these tests check.
settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("TELEPHONY_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def no_network() -> Iterator[respx.MockRouter]:
    """Every test runs with outside HTTP mocked: an unmocked request fails instead of going out.

    Loopback passes through, for tests that run the real server on a socket.
    """
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        mock.route(host__in=LOCAL_HOSTS).pass_through()
        yield mock


@pytest.fixture
def twilio_api(no_network: respx.MockRouter) -> respx.MockRouter:
    """Twilio's REST API, mocked at the HTTP layer: create answers 201, updates answer 200."""
    no_network.post(f"{TWILIO_CALLS}.json").mock(
        return_value=httpx.Response(201, json={"sid": CALL_SID, "status": "queued"})
    )
    no_network.post(f"{TWILIO_CALLS}/{CALL_SID}.json").mock(
        return_value=httpx.Response(200, json={"sid": CALL_SID, "status": "in-progress"})
    )
    return no_network


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One private redis-server for the whole run, started on first use."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """The test Redis, emptied for this test."""
    flush(redis_server_url)
    return redis_server_url
