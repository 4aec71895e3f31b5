"""Two server processes on one Redis serve one call together, whichever instance a request reaches.

A markup call's webhooks alternate between the instances, turn by turn; a stream call is
answered by one instance while its WebSocket lands on the other, and control requests sent to
the first reach the stream through Redis pub/sub. The carrier's REST API is a fake on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import websockets
from litestar import Litestar, Request, post
from litestar.params import FromPath
from server_process import wait_until_serving
from test_exactly_once import post_signed, said, speech
from twilio_helpers import ACCOUNT_SID, CALL_SID, WEBHOOK_URL, incoming_call, twiml

from telephony.server import background_server, free_port

TESTS = Path(__file__).resolve().parent.parent
STREAM_SID = "MZ" + "7" * 32


class FakeTwilioApi:
    """Twilio's Calls resource on loopback: every update (a hang-up) is noted and succeeds."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, dict[str, str]]] = []

        @post("/2010-04-01/Accounts/{account:str}/Calls/{sid:str}", status_code=200)
        async def update(
            request: Request[Any, Any, Any], account: FromPath[str], sid: FromPath[str]
        ) -> dict[str, str]:
            form = dict((await request.form()).items())
            self.updates.append((sid.removesuffix(".json"), form))
            return {"sid": sid.removesuffix(".json"), "status": "completed"}

        self.app = Litestar(route_handlers=[update])


@asynccontextmanager
async def instances(
    redis_url: str, media: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, FakeTwilioApi]]:
    """Instances A and B on the test Redis, each with an HTTP client; and the fake carrier API."""
    api = FakeTwilioApi()
    async with background_server(api.app, port=free_port()) as api_url:
        ports = [free_port(), free_port()]
        env = os.environ | {"PYTHONPATH": str(TESTS)}
        script = str(TESTS / "scaled_server.py")
        processes = [
            subprocess.Popen([sys.executable, script, redis_url, str(port), name, api_url, media], env=env)
            for port, name in zip(ports, "AB", strict=True)
        ]
        try:
            for port, process in zip(ports, processes, strict=True):
                await wait_until_serving(port, process)
            async with (
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30) as a,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[1]}", timeout=30) as b,
            ):
                yield a, b, api
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)


def gather_action(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    gather = twiml(answer.text).find("Gather")
    assert gather is not None, answer.text
    return gather.attrib["action"]


async def test_a_markup_call_whose_webhooks_alternate_between_instances(redis_url: str) -> None:
    async with instances(redis_url, "markup") as (a, b, _):
        action = gather_action(await post_signed(a, WEBHOOK_URL, incoming_call(CALL_SID)))
        for turn, (instance, name) in enumerate([(b, "B"), (a, "A"), (b, "B")], start=1):
            answer = await post_signed(instance, action, speech(CALL_SID, f"line {turn}"))
            assert said(answer) == [f"{name} heard: line {turn}"]
            action = gather_action(answer)
        # A slow turn on A while B takes the call's final status: B waits for the turn to finish,
        # so the turn's write cannot bring back to life the call B ended.
        slow = asyncio.ensure_future(post_signed(a, action, speech(CALL_SID, "answer slowly")))
        await anyio.sleep(0.3)
        status = incoming_call(CALL_SID) | {"CallStatus": "completed", "CallDuration": "9"}
        ended = await post_signed(b, f"{WEBHOOK_URL}?kind=status", status)
        assert ended.status_code == 200
        assert said(await slow) == ["A heard: answer slowly"]
        [call] = (await b.get("/api/calls")).json()
        again = (await a.get(f"/api/calls/{call['call_id']}")).json()
    assert call == again
    assert call["state"] == "completed"
    assert [(t["speaker"], t["text"]) for t in call["transcript"]][1:] == [
        ("user", "line 1"),
        ("bot", "B heard: line 1"),
        ("user", "line 2"),
        ("bot", "A heard: line 2"),
        ("user", "line 3"),
        ("bot", "B heard: line 3"),
        ("user", "answer slowly"),
        ("bot", "A heard: answer slowly"),
    ]


def _start_frame(params: dict[str, str]) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "accountSid": ACCOUNT_SID,
                "streamSid": STREAM_SID,
                "callSid": CALL_SID,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": params,
            },
            "streamSid": STREAM_SID,
        }
    )


async def heard(ws: Any) -> str:
    """What the far end hears up to the next mark (which it acknowledges), spelled out."""
    text = []
    while True:
        frame = json.loads(await ws.recv())
        if frame["event"] == "media":
            text.append(chr(base64.b64decode(frame["media"]["payload"])[0]))
        elif frame["event"] == "mark":
            await ws.send(json.dumps({"event": "mark", "streamSid": STREAM_SID, "mark": frame["mark"]}))
            return "".join(text)


async def test_a_stream_answered_on_one_instance_streams_on_the_other_and_obeys_both(redis_url: str) -> None:
    async with instances(redis_url, "stream") as (a, b, api):
        answer = await post_signed(a, WEBHOOK_URL, incoming_call(CALL_SID))
        stream = twiml(answer.text).find("Connect/Stream")
        assert stream is not None, answer.text
        params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
        call_id = params["callId"]
        ws_url = str(b.base_url).replace("http://", "ws://").rstrip("/") + "/voice/stream"
        async with websockets.connect(ws_url) as ws:
            await ws.send(_start_frame(params))
            greeting = await heard(ws)
            spoken = await a.post(f"/api/calls/{call_id}/speak", json={"text": "Your table is ready."})
            assert spoken.status_code == 200, spoken.text
            assert await heard(ws) == "Your table is ready."
            ended = await a.post(f"/api/calls/{call_id}/end")
            assert ended.status_code == 200, ended.text
            with anyio.fail_after(10):
                while True:  # B closes the stream once the call has ended
                    try:
                        await ws.recv()
                    except websockets.ConnectionClosed:
                        break
        call = (await a.get(f"/api/calls/{call_id}")).json()
        refused = await b.post(f"/api/calls/{call_id}/speak", json={"text": "Too late."})
    assert greeting == "Hello! How can I help you today?"
    assert ended.json()["state"] == call["state"] == "hangup-bot"
    assert [(t["speaker"], t["text"]) for t in call["transcript"]] == [
        ("bot", greeting),
        ("bot", "Your table is ready."),
    ]
    assert [(sid, form.get("Status")) for sid, form in api.updates] == [(CALL_SID, "completed")]
    assert refused.status_code == 409
