"""Swapping carriers: one config file, only ``provider`` and the carrier's section changed.

A user switches carriers by editing two things in their file: the ``provider`` line and the
credentials section of the carrier they move to. Everything else (numbers, policy, agent, the
public URL the carrier calls) stays as written, and the same call must go the same way. Each
carrier is played by its far end against the real app on a real socket.

Adding a carrier is one row in :data:`SWAPS`: its provider name, its section as a user writes it
in TOML, and how to get its far end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, Protocol

import respx
from acme_far_end import AcmeFarEnd
from plivo_far_end import PlivoFarEnd
from plivo_helpers import AUTH_ID as PLIVO_AUTH_ID
from plivo_helpers import AUTH_TOKEN as PLIVO_AUTH_TOKEN
from telnyx_far_end import TelnyxFarEnd
from telnyx_helpers import API_KEY, CONNECTION_ID, PUBLIC_KEY
from twilio_far_end import TwilioFarEnd
from twilio_helpers import ACCOUNT_SID, AUTH_TOKEN

from telephony.adapters.local import LocalCarrier, SimulatedCall
from telephony.config import load_config
from telephony.runtime import Runtime
from telephony.server import background_server, create_app, free_port
from telephony.store import CallRecord

CALLER = "+14158675309"
OUR_NUMBER = "+18005551212"
SCRIPT = ["Hello there.", "What can you do?", "Goodbye."]

USER_CONFIG = """\
provider = "{provider}"
fromNumber = "{our_number}"
publicUrl = "http://127.0.0.1:{port}"
inboundPolicy = "open"
maxConcurrentCalls = 2
agent = "builtin"
noInputRetries = 2
store = "{store}"

[serve]
port = {port}

{credentials}"""


class FarEnd(Protocol):
    """What the test needs of a carrier's far end: it can ring the server."""

    async def inbound_call(self, *, caller: str, callee: str, script: list[str]) -> SimulatedCall: ...


FarEndFor = Callable[[Runtime, respx.MockRouter, str], FarEnd]
"""Builds a carrier's far end from the running app, the mocked network and the webhook URL."""


def _local(runtime: Runtime, router: respx.MockRouter, webhook_url: str) -> FarEnd:
    carrier = runtime.carrier
    assert isinstance(carrier, LocalCarrier)
    return carrier.simulator  # the simulated network lives in the carrier itself


def _twilio(runtime: Runtime, router: respx.MockRouter, webhook_url: str) -> FarEnd:
    far_end = TwilioFarEnd(webhook_url, [])
    far_end.mock_rest_api(router)
    return far_end


def _acme(runtime: Runtime, router: respx.MockRouter, webhook_url: str) -> FarEnd:
    far_end = AcmeFarEnd(webhook_url, [])
    far_end.mock_rest_api(router)
    return far_end


def _telnyx(runtime: Runtime, router: respx.MockRouter, webhook_url: str) -> FarEnd:
    far_end = TelnyxFarEnd(webhook_url, [])
    far_end.mock_rest_api(router)
    return far_end


def _plivo(runtime: Runtime, router: respx.MockRouter, webhook_url: str) -> FarEnd:
    far_end = PlivoFarEnd(webhook_url, [])
    far_end.mock_rest_api(router)
    return far_end


class Swap(NamedTuple):
    provider: str
    credentials: str
    far_end: FarEndFor


SWAPS: dict[str, Swap] = {
    "twilio": Swap(
        "twilio", f'[twilio]\naccountSid = "{ACCOUNT_SID}"\nauthToken = "{AUTH_TOKEN}"\n', _twilio
    ),
    "local-markup": Swap("local", '[local]\nsecret = "swap-secret"\nmode = "markup"\n', _local),
    "local-command": Swap("local", '[local]\nsecret = "swap-secret"\nmode = "command"\n', _local),
    "telnyx": Swap(
        "telnyx",
        f'[telnyx]\napiKey = "{API_KEY}"\nconnectionId = "{CONNECTION_ID}"\npublicKey = "{PUBLIC_KEY}"\n',
        _telnyx,
    ),
    "plivo": Swap(
        "plivo", f'[plivo]\nauthId = "{PLIVO_AUTH_ID}"\nauthToken = "{PLIVO_AUTH_TOKEN}"\n', _plivo
    ),
    "acme": Swap(
        "acme", '[acme]\napiKey = "acme-test-key"\nwebhookSecret = "acme-test-webhook-secret"\n', _acme
    ),
}


async def _ended(runtime: Runtime, call: SimulatedCall) -> CallRecord:
    record = await runtime.store.get_by_provider_id(runtime.carrier.name, call.provider_call_id)
    assert record is not None
    for _ in range(200):
        current = await runtime.store.get(record.call_id)
        assert current is not None
        if current.terminal:
            return current
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {record.call_id} did not end")


async def test_the_same_file_with_another_provider_runs_the_same_conversation(
    tmp_path: Path, no_network: respx.MockRouter
) -> None:
    port = free_port()  # one file for every carrier: the same port and store each time
    transcripts: dict[str, list[tuple[str, str]]] = {}
    heard: dict[str, list[tuple[str, str]]] = {}
    for name, swap in SWAPS.items():
        text = USER_CONFIG.format(
            provider=swap.provider,
            our_number=OUR_NUMBER,
            port=port,
            store=tmp_path / "store",
            credentials=swap.credentials,
        )
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        config = load_config(path, env={})
        runtime = Runtime.build(config)
        async with background_server(create_app(config, runtime=runtime), port=port):
            far_end = swap.far_end(runtime, no_network, f"http://127.0.0.1:{port}/voice/webhook")
            call = await far_end.inbound_call(caller=CALLER, callee=OUR_NUMBER, script=list(SCRIPT))
            record = await _ended(runtime, call)
        assert record.provider == swap.provider and record.state == "hangup-bot", name
        transcripts[name] = [(turn.speaker, turn.text) for turn in record.transcript]
        heard[name] = [(turn.speaker, turn.text) for turn in call.turns]
    reference = transcripts["twilio"]
    assert [speaker for speaker, _ in reference] == ["bot", "user"] * 3 + ["bot"]
    assert [text for speaker, text in reference if speaker == "user"] == SCRIPT
    assert reference[-1] == ("bot", "Thanks for calling. Goodbye!")
    for name in SWAPS:
        assert transcripts[name] == reference, f"{name} ran another conversation"
        assert heard[name] == [("caller" if s == "user" else s, t) for s, t in reference], name
