"""A slow agent on a webhook turn: the caller hears the holding line, then the reply, never silence.

Markup carriers (Twilio, Plivo, the local carrier's markup mode) are answered with the holding
line and a redirect to the call's pending actions, which the far end follows; command carriers
(Telnyx, the local carrier's command mode) are sent the holding line as a command, then the
reply. All through the real app, on a real socket, with far ends that sign their webhooks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import respx
from litestar.testing import TestClient
from test_conversations import (
    CALLER,
    OUR_NUMBER,
    STARTED,
    WEBHOOK,
    _carrier_serving,
    _config,
    _ended,
    _lines,
    _post,
)
from test_faults import FlakyAgent
from twilio_helpers import from_client

from telephony.adapters.local._carrier import LocalResponder
from telephony.adapters.local._wire import MARKUP_DECODER
from telephony.lines import AGENT_FALLBACK, HOLDING_LINE
from telephony.providers import Action, Agent, Gather, Pause, Redirect, Say, Turn
from telephony.runtime import Runtime
from telephony.server import create_app
from telephony.states import CallState
from telephony.store import CallRecord, SqliteCallStore, Thinking

HELD = ["local-markup", "local-command", "twilio", "plivo", "telnyx"]
SCRIPT = ["Hello there.", "What can you do?", "Goodbye."]
GREETING = "Hello! How can I help you today?"
GOODBYE = "Thanks for calling. Goodbye!"


async def _converse(carrier: str, router: respx.MockRouter, agent: FlakyAgent, **settings: Any) -> Any:
    """One inbound call over ``carrier``: what the caller heard, and the call as stored."""
    async with _carrier_serving(carrier, router, **settings) as (runtime, far_end):
        runtime.engine.agent = agent
        call = await far_end.inbound_call(caller=CALLER, callee=OUR_NUMBER, script=list(SCRIPT))
        record = await runtime.store.get_by_provider_id(runtime.carrier.name, call.provider_call_id)
        assert record is not None
        return call, await _ended(runtime, record.call_id)


@pytest.mark.parametrize("carrier", HELD)
async def test_a_slow_agent_is_covered_by_the_holding_line_then_heard(
    carrier: str, no_network: respx.MockRouter
) -> None:
    # The agent takes 2.5 s; the holding line comes after holdingLineAfterMs (1.5 s by default).
    agent = FlakyAgent(["slow 2.5"])
    call, record = await _converse(carrier, no_network, agent)
    bot = [text for speaker, text in _lines(call) if speaker == "bot"]
    assert bot == [GREETING, HOLDING_LINE, "You said: Hello there.", "You said: What can you do?", GOODBYE]
    # The holding line is filler: the transcript holds each line once, and only what was said.
    assert [(turn.speaker, turn.text) for turn in record.transcript] == [
        ("bot", GREETING),
        ("user", "Hello there."),
        ("bot", "You said: Hello there."),
        ("user", "What can you do?"),
        ("bot", "You said: What can you do?"),
        ("user", "Goodbye."),
        ("bot", GOODBYE),
    ]
    assert record.state == "hangup-bot" and record.turn_count == 3
    assert record.thinking is None and record.pending == []


@pytest.mark.parametrize("carrier", HELD)
async def test_an_agent_that_hangs_gives_the_holding_line_then_the_fallback(
    carrier: str, no_network: respx.MockRouter
) -> None:
    agent = FlakyAgent(["hang"])
    call, record = await _converse(carrier, no_network, agent, holdingLineAfterMs=300, responseTimeoutMs=1500)
    bot = [text for speaker, text in _lines(call) if speaker == "bot"]
    assert bot == [GREETING, HOLDING_LINE, AGENT_FALLBACK, "You said: What can you do?", GOODBYE]
    bot_lines = [turn.text for turn in record.transcript if turn.speaker == "bot"]
    assert bot_lines == [GREETING, AGENT_FALLBACK, "You said: What can you do?", GOODBYE]
    assert record.state == "hangup-bot" and record.turn_count == 3


async def test_with_the_holding_line_off_the_webhook_waits_for_the_reply(
    no_network: respx.MockRouter,
) -> None:
    call, record = await _converse("twilio", no_network, FlakyAgent(["slow 0.5"]), holdingLineAfterMs=0)
    assert HOLDING_LINE not in [text for _, text in _lines(call)]
    assert record.turn_count == 3


# ---------------------------------------------------------------- driven webhook by webhook


@contextmanager
def _app(store: Path, agent: Agent | None = None, **settings: Any) -> Iterator[TestClient[Any]]:
    """The local markup app on a SQLite store at ``store``: building it twice on one path is a restart."""
    config = _config("markup", store=store, **settings)
    runtime = Runtime.build(config, agent=agent)
    with TestClient(from_client(create_app(config, runtime=runtime), "127.0.0.1")) as client:
        yield client


def _actions(response: Any) -> list[Action]:
    assert response.status_code == 200, response.text
    return list(MARKUP_DECODER.decode(response.content).actions)


def _said(actions: list[Action]) -> list[str]:
    lines = []
    for action in actions:
        for item in action.prompt if isinstance(action, Gather) else (action,):
            if isinstance(item, Say):
                lines.append(item.text)
    return lines


def _held_turn(client: TestClient[Any], speech: str) -> tuple[dict[str, Any], list[Action]]:
    """Start a call and say ``speech``: the gather result's body, and the holding answer to it."""
    greeting = _actions(_post(client, WEBHOOK, STARTED))[-1]
    assert isinstance(greeting, Gather)
    result = {"event": "input", "call": "LC1", "speech": speech}
    held = _actions(_post(client, greeting.action_url, result))
    assert _said(held) == [HOLDING_LINE] and isinstance(held[-1], Redirect)
    return {"url": greeting.action_url, "body": result}, held


def _stored(directory: Path) -> CallRecord:
    """The one call in the SQLite store at ``directory``, read once its app has stopped."""

    async def read() -> CallRecord:
        store = SqliteCallStore(directory)
        try:
            (record,) = await store.list_calls()
            return record
        finally:
            await store.close()

    return anyio.run(read)


class _Counting(FlakyAgent):
    def __init__(self, plan: list[str]) -> None:
        super().__init__(plan)
        self.asked = 0

    async def reply(self, request: Any) -> Any:
        self.asked += 1
        return await super().reply(request)


def test_a_copy_of_a_held_turn_gets_the_same_answer_and_the_agent_runs_once(tmp_path: Path) -> None:
    agent = _Counting(["slow 1.0"])
    with _app(tmp_path, agent, holdingLineAfterMs=200) as client:
        first, held = _held_turn(client, "Hello there.")
        copy = _post(client, first["url"], first["body"])  # the carrier sends the gather result again
        assert _actions(copy) == held
        (reply,) = _actions(_post(client, held[-1].url, {"event": "fetch", "call": "LC1"}))  # type: ignore[union-attr]
        record = client.get("/api/calls").json()[0]
    assert _said([reply]) == ["You said: Hello there."] and agent.asked == 1
    assert [turn["text"] for turn in record["transcript"]].count("Hello there.") == 1


def test_a_turn_in_flight_when_its_process_died_ends_in_the_fallback_line(tmp_path: Path) -> None:
    # The agent never answers and the process goes away with the turn in flight.
    settings = {"holdingLineAfterMs": 200, "responseTimeoutMs": 1000}
    with _app(tmp_path, FlakyAgent(["hang"]), **settings) as client:
        _, held = _held_turn(client, "Hello there.")
    assert _stored(tmp_path).thinking is not None, "the turn in flight is in the store"
    # The carrier follows the redirect to a new process on the same store. Nothing there is
    # thinking: once the note has outlived any agent, the fetch is given the fallback line.
    with _app(tmp_path, FlakyAgent([]), **settings) as client:
        redirect = held[-1]
        for _ in range(20):
            assert isinstance(redirect, Redirect)
            answer = _actions(_post(client, redirect.url, {"event": "fetch", "call": "LC1"}))
            if isinstance(answer[0], Pause):  # still in flight as far as the store knows: ask again
                (_, redirect) = answer
                continue
            break
        (fallback,) = answer
        assert isinstance(fallback, Gather) and _said([fallback]) == [AGENT_FALLBACK]
        # The call goes on: the next turn is answered as usual.
        (reply,) = _actions(
            _post(client, fallback.action_url, {"event": "input", "call": "LC1", "speech": "Hi?"})
        )
    record = _stored(tmp_path)
    assert _said([reply]) == ["You said: Hi?"]
    assert record.thinking is None and record.turn_count == 2
    assert [(turn.speaker, turn.text) for turn in record.transcript] == [
        ("bot", "Hello! How can I help you today?"),
        ("user", "Hello there."),
        ("bot", AGENT_FALLBACK),
        ("user", "Hi?"),
        ("bot", "You said: Hi?"),
    ]


async def test_a_command_carriers_turn_whose_process_died_is_answered_with_the_fallback(
    tmp_path: Path,
) -> None:
    # A command carrier never comes back for a reply: the engine's sweep must send one.
    runtime = Runtime.build(_config("command", store=tmp_path, responseTimeoutMs=1000))
    sent: list[tuple[str, list[Action]]] = []

    async def carrier(provider_call_id: str, actions: list[Action]) -> None:
        sent.append((provider_call_id, actions))

    runtime.carrier.responder = LocalResponder(carrier)  # type: ignore[misc]
    now = time.time()
    await runtime.store.create(
        CallRecord(
            call_id="c1",
            provider="local",
            direction="inbound",
            provider_call_id="LC1",
            state=CallState.LISTENING,
            created_at=now - 20,
            answered_at=now - 20,
            gather_turn=1,
            transcript=[
                Turn(speaker="bot", text=GREETING, at=now - 20),
                Turn(speaker="user", text="Hi", at=now - 9),
            ],
            thinking=Thinking(event_id="e1", turn=1, started_at=now - 9),  # its process died then
        )
    )
    async with runtime.running():
        with anyio.fail_after(10):
            while not sent:
                await anyio.sleep(0.05)
        assert await runtime.engine.held.recover_lost_turns() == [], "answered once, whoever sweeps"
        record = await runtime.store.get("c1")
    ((call, actions),) = sent
    assert call == "LC1" and _said(actions) == [AGENT_FALLBACK] and isinstance(actions[-1], Gather)
    assert record is not None and record.thinking is None and not record.terminal
    assert [turn.text for turn in record.transcript][-2:] == ["Hi", AGENT_FALLBACK]
