"""Shared fixtures; helper modules live beside this file (``pythonpath`` in pyproject)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx
from twilio_helpers import ACCOUNT_SID, CALL_SID

TWILIO_CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls"


@pytest.fixture
def twilio_api() -> Iterator[respx.MockRouter]:
    """Twilio's REST API, mocked at the HTTP layer: create answers 201, updates answer 200."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        mock.post(f"{TWILIO_CALLS}.json").mock(
            return_value=httpx.Response(201, json={"sid": CALL_SID, "status": "queued"})
        )
        mock.post(f"{TWILIO_CALLS}/{CALL_SID}.json").mock(
            return_value=httpx.Response(200, json={"sid": CALL_SID, "status": "in-progress"})
        )
        yield mock
