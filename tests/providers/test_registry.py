"""Adapters are found through entry points, so third-party packages can add carriers."""

from __future__ import annotations

import pytest

from providers import AGENTS, CARRIERS, STT, TTS, AdapterNotFound, available, load


def test_bundled_adapters_are_registered() -> None:
    assert {"twilio", "local"} <= set(available(CARRIERS))
    assert {"builtin", "openai"} <= set(available(AGENTS))
    assert {"espeak", "openai"} <= set(available(TTS))
    assert {"pocketsphinx", "openai"} <= set(available(STT))


def test_unknown_adapter_names_the_alternatives() -> None:
    with pytest.raises(AdapterNotFound, match=r"no adapter named 'twillio'.*available: .*twilio"):
        load(CARRIERS, "twillio")


def test_loaded_factory_builds_a_carrier_with_all_four_contracts() -> None:
    from providers import CarrierContext

    carrier = load(CARRIERS, "local")({"secret": "s"}, CarrierContext(public_url="http://127.0.0.1:1"))
    for part in ("verifier", "parser", "responder", "codec", "control"):
        assert getattr(carrier, part) is not None
    assert carrier.name == "local"
