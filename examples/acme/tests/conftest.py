"""Fixtures for the Acme adapter's tests: no test reaches the network."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from .acme_testing import API


@pytest.fixture(autouse=True)
def no_network() -> Iterator[respx.MockRouter]:
    """Outside HTTP is mocked: an unmocked request fails instead of reaching Acme."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        mock.route(host__in=("127.0.0.1", "localhost")).pass_through()
        yield mock


@pytest.fixture
def acme_api(no_network: respx.MockRouter) -> respx.MockRouter:
    """Acme's REST API: creating a call answers 201, every command 200."""
    no_network.post(f"{API}/calls").respond(201, json={"call_id": "ac_out", "state": "queued"})
    no_network.post(url__regex=rf"{API}/calls/[^/]+/actions/\w+").respond(200, json={})
    return no_network
