"""Exactly-once turns: copies of a webhook, during a slow turn and after a crash, on real sockets.

Every copy must get a real answer (an empty ``<Response/>`` hangs a Twilio call up) and the agent
must run once per turn, unless its first run died with the process.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio
import httpx
import pytest
from server_process import start_crash_server, wait_until_serving
from twilio_helpers import (
    CALL_SID,
    WEBHOOK_URL,
    incoming_call,
    sign,
    twilio_config,
    twiml,
)

from telephony.providers import AgentReply, AgentRequest
from telephony.runtime import Runtime
from telephony.server import background_server, create_app, free_port
from telephony.store import CallStore, MemoryCallStore, SqliteCallStore


async def post_signed(client: httpx.AsyncClient, url: str, params: dict[str, str]) -> httpx.Response:
    """POST as Twilio does, to the server ``client`` points at, signed over the public URL."""
    parts = urlsplit(url)
    headers = {"X-Twilio-Signature": sign(url, params), "Content-Type": "application/x-www-form-urlencoded"}
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return await client.post(path, content=urlencode(params).encode(), headers=headers)


def said(answer: httpx.Response) -> list[str]:
    """The lines a TwiML answer speaks, wherever they sit (``Say`` or ``Gather/Say``)."""
    return [node.text or "" for node in twiml(answer.text).iter("Say")]


async def start_call(client: httpx.AsyncClient, call_sid: str) -> str:
    """Ring in, and return the Gather action the greeting hands out (the turn's webhook URL)."""
    greeting = await post_signed(client, WEBHOOK_URL, incoming_call(call_sid))
    assert greeting.status_code == 200, greeting.text
    gather = twiml(greeting.text).find("Gather")
    assert gather is not None, greeting.text
    return gather.attrib["action"]


def speech(call_sid: str, words: str) -> dict[str, str]:
    return incoming_call(call_sid) | {"CallStatus": "in-progress", "SpeechResult": words}


class SlowAgent:
    """Answers after a pause long enough for every copy to arrive while it thinks."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.asked: list[str] = []

    async def reply(self, request: AgentRequest) -> AgentReply:
        self.asked.append(request.transcript[-1].text)
        await anyio.sleep(self.pause)
        return AgentReply(text=f"You said: {request.transcript[-1].text}")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_twenty_concurrent_copies_run_the_agent_once_and_all_get_its_answer(
    kind: str, tmp_path: Path
) -> None:
    store: CallStore = MemoryCallStore() if kind == "memory" else SqliteCallStore(tmp_path)
    agent = SlowAgent(pause=0.6)
    config = twilio_config()
    runtime = Runtime.build(config, store=store, agent=agent)
    async with (
        background_server(create_app(config, runtime=runtime), port=free_port()) as base,
        httpx.AsyncClient(base_url=base, timeout=20) as client,
    ):
        action = await start_call(client, CALL_SID)
        params = speech(CALL_SID, "What time is it?")
        copies = await asyncio.gather(*(post_signed(client, action, params) for _ in range(20)))
        late = await post_signed(client, action, params)  # a retry after the turn finished
        calls = (await client.get("/api/calls")).json()
    assert agent.asked == ["What time is it?"]
    assert {answer.status_code for answer in copies} == {200}
    assert {answer.text for answer in copies} == {late.text}
    assert said(late) == ["You said: What time is it?"]
    assert [(t["speaker"], t["text"]) for t in calls[0]["transcript"]][1:] == [
        ("user", "What time is it?"),
        ("bot", "You said: What time is it?"),
    ]


async def test_a_failed_turn_lets_the_next_copy_run_it(tmp_path: Path) -> None:
    class CountingAgent:
        def __init__(self) -> None:
            self.runs = 0

        async def reply(self, request: AgentRequest) -> AgentReply:
            self.runs += 1
            return AgentReply(text="Second time lucky.")

    agent = CountingAgent()
    config = twilio_config()
    runtime = Runtime.build(config, store=MemoryCallStore(), agent=agent)
    original = runtime.engine.heard  # the first step of every turn, inline or held
    failures = iter([RuntimeError("the store went away")])

    async def flaky(*args: Any, **kwargs: Any) -> AgentRequest:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return await original(*args, **kwargs)

    runtime.engine.heard = flaky  # type: ignore[method-assign]
    async with (
        background_server(create_app(config, runtime=runtime), port=free_port()) as base,
        httpx.AsyncClient(base_url=base, timeout=20) as client,
    ):
        action = await start_call(client, CALL_SID)
        params = speech(CALL_SID, "Hello?")
        first = await post_signed(client, action, params)
        retry = await post_signed(client, action, params)
    assert first.status_code == 500  # the failure is the carrier's to retry, never an empty answer
    assert retry.status_code == 200 and said(retry) == ["Second time lucky."]
    assert agent.runs == 1


# ---------------------------------------------------------------------- kill -9 mid-turn

LEASE_MS = 3000


def _start(directory: Path, port: int, behaviour: str) -> subprocess.Popen[bytes]:
    return start_crash_server(directory, port, behaviour, LEASE_MS)


def _asked(directory: Path) -> list[str]:
    log = directory / "asked"
    return log.read_text().split() if log.exists() else []


@pytest.mark.parametrize("turns", [1, 20])
async def test_a_retry_after_kill_9_mid_turn_runs_the_turn(turns: int, tmp_path: Path) -> None:
    directory, port = tmp_path / "store", free_port()
    directory.mkdir()
    sids = [f"CA{index:032d}" for index in range(turns)]
    server = _start(directory, port, "hang")
    try:
        await wait_until_serving(port, server)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            actions = [await start_call(client, sid) for sid in sids]
            pending = [
                asyncio.ensure_future(post_signed(client, action, speech(sid, f"caller {sid[-2:]}")))
                for sid, action in zip(sids, actions, strict=True)
            ]
            deadline = time.monotonic() + 20
            while len(_asked(directory)) < turns:  # every turn is inside the agent
                assert time.monotonic() < deadline, _asked(directory)
                await asyncio.sleep(0.05)
            server.send_signal(signal.SIGKILL)
            server.wait()
            for lost in await asyncio.gather(*pending, return_exceptions=True):
                assert isinstance(lost, httpx.HTTPError)  # the connections died with the process
    finally:
        server.kill()
        server.wait()

    server = _start(directory, port, "answer")
    try:
        await wait_until_serving(port, server)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            # The carrier retries each webhook, at once: the dead handler's lease is still running.
            retries = await asyncio.gather(
                *(
                    post_signed(client, action, speech(sid, f"caller {sid[-2:]}"))
                    for sid, action in zip(sids, actions, strict=True)
                )
            )
            again = await post_signed(client, actions[0], speech(sids[0], f"caller {sids[0][-2:]}"))
    finally:
        server.kill()
        server.wait()

    for sid, retry in zip(sids, retries, strict=True):
        assert retry.status_code == 200, retry.text
        assert said(retry) == [f"Recovered: caller {sid[-2:]}"]
        assert twiml(retry.text).find("Gather") is not None  # the call goes on listening
    assert again.text == retries[0].text  # and the turn is now done: a later copy gets the same

    store = SqliteCallStore(directory)
    try:
        for sid in sids:
            record = await store.get_by_provider_id("twilio", sid)
            assert record is not None and not record.terminal
            assert (
                [(t.speaker, t.text) for t in record.transcript][1:]
                == [
                    ("user", f"caller {sid[-2:]}"),  # stored once, though the turn ran twice
                    ("bot", f"Recovered: caller {sid[-2:]}"),
                ]
            )
    finally:
        await store.close()
