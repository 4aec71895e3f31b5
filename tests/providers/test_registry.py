"""Adapters are found through entry points, so third-party packages can add carriers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from telephony.providers import (
    AGENTS,
    CARRIERS,
    STT,
    TTS,
    AdapterNotFound,
    MissingDependency,
    available,
    load,
    require_module,
)


def test_bundled_adapters_are_registered() -> None:
    assert {"twilio", "local"} <= set(available(CARRIERS))
    assert {"builtin", "openai"} <= set(available(AGENTS))
    assert {"espeak", "openai"} <= set(available(TTS))
    assert {"pocketsphinx", "openai"} <= set(available(STT))


def test_unknown_adapter_names_the_alternatives() -> None:
    with pytest.raises(AdapterNotFound, match=r"no adapter named 'twillio'.*available: .*twilio"):
        load(CARRIERS, "twillio")


def test_loaded_factory_builds_a_carrier_with_all_four_contracts() -> None:
    from telephony.providers import CarrierContext

    carrier = load(CARRIERS, "local")({"secret": "s"}, CarrierContext(public_url="http://127.0.0.1:1"))
    for part in ("verifier", "parser", "responder", "codec", "control"):
        assert getattr(carrier, part) is not None
    assert carrier.name == "local"


def test_a_missing_extra_is_named_when_its_adapter_loads() -> None:
    # Hide the Twilio SDK as if `telephony[twilio]` were not installed.
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'twilio' or name.startswith('twilio.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from telephony.providers import CARRIERS, MissingDependency, load\n"
        "try:\n"
        "    load(CARRIERS, 'twilio')\n"
        "except MissingDependency as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip().endswith(
        "'twilio' is not installed; install it with: pip install '.[twilio]' from a telephony checkout, "
        "or pip install 'telephony[twilio]' from a package index"
    )


def test_require_module_names_the_extra() -> None:
    with pytest.raises(
        MissingDependency,
        match=r"pip install '\.\[openai\]' from a telephony checkout, or pip install 'telephony\[openai\]'",
    ):
        require_module("surely_not_an_installed_module_xyz", "openai")


def test_the_builtin_agent_needs_no_speech_engine_packages() -> None:
    # A markup-only server installs no offline extra; its default agent must still load, and
    # the speech engines must name the extra that brings them.
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pocketsphinx', 'espeakng_loader'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from telephony.providers import AGENTS, TTS, MissingDependency, load\n"
        "agent = load(AGENTS, 'builtin')({})\n"
        "print(type(agent).__name__)\n"
        "try:\n"
        "    load(TTS, 'espeak')({})\n"
        "except MissingDependency as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.splitlines()[0] == "BuiltinAgent"
    assert "pip install '.[offline]' from a telephony checkout, or pip install 'telephony[offline]'" in out
