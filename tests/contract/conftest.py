"""The ``kit`` fixture: every contract test runs once per registered carrier."""

from __future__ import annotations

import pytest
import respx

from .kits import KITS, CarrierKit


@pytest.fixture(params=list(KITS))
def kit(request: pytest.FixtureRequest, no_network: respx.MockRouter) -> CarrierKit:
    """A fresh kit for one carrier, its REST API mocked."""
    kit = KITS[request.param]()
    kit.mock_api(no_network)
    return kit
