"""Fuzz-and-fault reliability run: ``python -m bench.reliability [--scale N]``.

Not a speed benchmark: it counts what a caller would suffer. Everything runs on loopback against
the real server (uvicorn, the Twilio adapter, the SQLite store), in four phases:

- **fuzz**: signed webhooks with mutated parameters (huge, empty, wrong types, non-UTF-8,
  unknown keys), forged and unsigned ones, raw junk bodies, oversized bodies. A 5xx or a forged
  request accepted is a failure.
- **copies**: every turn of several calls is delivered as concurrent copies while a slow agent
  thinks, then once more after. The agent must run once per turn, and every copy must get the
  same real answer (an empty ``<Response/>`` would hang the caller up).
- **faults**: an agent that fails, hangs or answers empty on a share of turns. Every turn must
  still speak a line to the caller.
- **crash**: a server process is killed with SIGKILL while every call is mid-turn, restarted,
  and the carrier retries each webhook. A turn is lost when its retry gets no real answer.

Each phase is bounded (``--scale`` multiplies the work; 1 takes about a minute on two cores).
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.etree import ElementTree

import anyio
import httpx
from twilio.request_validator import RequestValidator

from telephony.providers import AgentReply, AgentRequest
from telephony.runtime import Runtime
from telephony.server import background_server, create_app, free_port
from telephony.store import SqliteCallStore

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
# The crash phase runs the tests' crash server, so it signs with the tests' credentials.
sys.path.insert(0, str(TESTS))
from server_process import start_crash_server, wait_until_serving  # noqa: E402
from twilio_helpers import AUTH_TOKEN, WEBHOOK_URL, incoming_call, twilio_config  # noqa: E402

VALIDATOR = RequestValidator(AUTH_TOKEN)


@dataclass
class Tally:
    """What one phase saw."""

    phase: str
    requests: int = 0
    server_errors: int = 0
    forged_accepted: int = 0
    turns: int = 0
    turns_lost: int = 0
    copies: int = 0
    copies_same_answer: int = 0
    empty_answers: int = 0
    agent_runs: int = 0
    seconds: float = 0.0


# ---------------------------------------------------------------------- driving the server


async def post(
    client: httpx.AsyncClient,
    url: str,
    params: dict[str, str] | None = None,
    *,
    body: bytes | None = None,
    signature: str | None = None,
    tally: Tally,
) -> httpx.Response | None:
    """POST as Twilio does (signed over the public URL), counting the request and any 5xx."""
    parts = urlsplit(url)
    if body is None:
        body = urlencode(params or {}).encode()
    if signature is None:
        signature = VALIDATOR.compute_signature(url, params or {})
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    tally.requests += 1
    try:
        answer = await client.post(
            parts.path + (f"?{parts.query}" if parts.query else ""), content=body, headers=headers
        )
    except httpx.HTTPError:
        return None
    if answer.status_code >= 500:
        tally.server_errors += 1
    return answer


def spoken(answer: httpx.Response | None) -> list[str]:
    """The lines a TwiML answer speaks; empty for no answer, a 5xx or a silent one."""
    if answer is None or answer.status_code != 200:
        return []
    try:
        return [node.text or "" for node in ElementTree.fromstring(answer.text).iter("Say")]
    except ElementTree.ParseError:
        return []


def gather_action(answer: httpx.Response | None) -> str | None:
    if answer is None or answer.status_code != 200:
        return None
    gather = ElementTree.fromstring(answer.text).find("Gather")
    return None if gather is None else gather.attrib["action"]


def speech(call_sid: str, words: str) -> dict[str, str]:
    return incoming_call(call_sid) | {"CallStatus": "in-progress", "SpeechResult": words}


def sid(phase: str, index: int) -> str:
    return "CA" + f"{phase[:4].encode().hex()}{index:024d}"[:32]


# ---------------------------------------------------------------------- fuzz

JUNK = [
    "",
    "x" * 20_000,
    "\x00\x01\x02",
    "%ZZ%",
    "💥" * 500,
    "<Response><Hangup/></Response>",
    "'; DROP TABLE calls; --",
    "-1",
    "1e309",
    "NaN",
    "null",
    "[]",
]


FUZZ_CONCURRENCY = 10


def mutate(params: dict[str, str], rng: random.Random) -> dict[str, str]:
    mutated = dict(params)
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        key = rng.choice(list(mutated) or ["CallSid"])
        if roll < 0.3:
            mutated[key] = rng.choice(JUNK)
        elif roll < 0.5:
            mutated.pop(key, None)
        elif roll < 0.7:
            field = rng.choice(["Digits", "Confidence", "CallStatus", "Direction", "AnsweredBy"])
            mutated[field] = rng.choice([*JUNK, "in-progress", "completed", "machine_start", "0.5", "12#"])
        else:
            mutated["".join(rng.choice("abcXYZ_") for _ in range(8))] = rng.choice(JUNK)
    return mutated


async def fuzz(client: httpx.AsyncClient, requests: int, rng: random.Random) -> Tally:
    tally = Tally("fuzz")
    action = gather_action(await post(client, WEBHOOK_URL, incoming_call(sid("fuzz", 0)), tally=tally))
    targets = [WEBHOOK_URL, action or WEBHOOK_URL, WEBHOOK_URL + "?callId=nope&kind=status"]

    async def one(index: int) -> None:
        url = rng.choice(targets)
        base = speech(sid("fuzz", 0), "hello")
        kind = index % 5
        if kind <= 1:  # signed, mutated: authentic but strange
            await post(client, url, mutate(base, rng), tally=tally)
        elif kind == 2:  # forged: a valid-looking signature for other parameters
            params = mutate(base, rng)
            forged = VALIDATOR.compute_signature(url, base)
            answer = await post(client, url, params, signature=forged, tally=tally)
            if answer is not None and answer.status_code == 200 and params != base:
                tally.forged_accepted += 1
        elif kind == 3:  # raw junk bytes, signed over what a form parser would make of them
            body = rng.randbytes(rng.randint(0, 3000))
            pairs = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
            await post(client, url, body=body, signature=VALIDATOR.compute_signature(url, pairs), tally=tally)
        else:  # oversized or unsigned
            body = b"SpeechResult=" + b"a" * rng.choice([10, 70_000, 300_000])
            await post(client, url, body=body, signature="bm90LWEtc2lnbmF0dXJl", tally=tally)

    for start in range(0, requests, FUZZ_CONCURRENCY):  # a few at a time, as a busy carrier sends
        await asyncio.gather(*(one(index) for index in range(start, min(start + FUZZ_CONCURRENCY, requests))))
    return tally


# ---------------------------------------------------------------------- copies and faults


class SlowAgent:
    """Thinks for ``low``..``high`` seconds, so copies of a turn arrive while it does."""

    def __init__(self, rng: random.Random, low: float = 0.05, high: float = 0.4) -> None:
        self.rng = rng
        self.low, self.high = low, high
        self.runs = 0

    async def reply(self, request: AgentRequest) -> AgentReply:
        self.runs += 1
        await anyio.sleep(self.rng.uniform(self.low, self.high))
        return AgentReply(text=f"Noted: {request.transcript[-1].text}")


class FaultyAgent:
    """Fails, hangs, or answers empty on a share of turns; answers properly otherwise."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.runs = 0

    async def reply(self, request: AgentRequest) -> AgentReply:
        self.runs += 1
        roll = self.rng.random()
        if roll < 0.25:
            raise RuntimeError("injected agent failure")
        if roll < 0.4:
            await anyio.sleep(3600)  # hangs: the engine's deadline must cut it
        if roll < 0.5:
            return AgentReply(text="   ")
        return AgentReply(text=f"Noted: {request.transcript[-1].text}")


async def conversation(client: httpx.AsyncClient, tally: Tally, index: int, turns: int, copies: int) -> None:
    call = sid(tally.phase, index)
    action = gather_action(await post(client, WEBHOOK_URL, incoming_call(call), tally=tally))
    for turn in range(turns):
        if action is None:
            tally.turns_lost += turns - turn
            return
        tally.turns += 1
        params = speech(call, f"call {index} turn {turn}")
        answers = await asyncio.gather(*(post(client, action, params, tally=tally) for _ in range(copies)))
        late = await post(client, action, params, tally=tally)
        everything = [*answers, late]
        tally.copies += len(everything)
        tally.empty_answers += sum(1 for answer in everything if not spoken(answer))
        reference = late.text if late is not None else None
        tally.copies_same_answer += sum(
            1 for answer in everything if answer is not None and answer.text == reference
        )
        if not spoken(late):
            tally.turns_lost += 1
        action = gather_action(late)


Work = Callable[[httpx.AsyncClient], Awaitable[Tally]]


async def served(phase: str, agent: Any, directory: Path, work: Work, **config: Any) -> Tally:
    settings = twilio_config(maxConcurrentCalls=1000, **config)
    runtime = Runtime.build(settings, store=SqliteCallStore(directory / phase), agent=agent)
    started = time.perf_counter()
    async with (
        background_server(create_app(settings, runtime=runtime), port=free_port()) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        tally = await work(client)
    tally.seconds = time.perf_counter() - started
    tally.agent_runs = getattr(agent, "runs", 0)
    return tally


async def conversations_phase(
    phase: str, agent: Any, directory: Path, *, calls: int, turns: int, copies: int, **config: Any
) -> Tally:
    """``calls`` concurrent calls of ``turns`` turns, each turn sent as ``copies`` copies and one more."""

    async def work(client: httpx.AsyncClient) -> Tally:
        tally = Tally(phase)
        await asyncio.gather(*(conversation(client, tally, index, turns, copies) for index in range(calls)))
        return tally

    return await served(phase, agent, directory, work, **config)


# ---------------------------------------------------------------------- crash


def _start(directory: Path, port: int, behaviour: str) -> subprocess.Popen[bytes]:
    # Its log says "running the turn again" once per recovered turn: the table counts those.
    return start_crash_server(directory, port, behaviour, 3000, quiet=True)


async def crash_round(directory: Path, tally: Tally, round_: int, calls: int) -> None:
    port = free_port()
    store = directory / f"crash-{round_}"
    store.mkdir()
    sids = [sid(f"k{round_:03d}", index) for index in range(calls)]
    server = _start(store, port, "hang")
    try:
        await wait_until_serving(port, server)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            actions = [
                gather_action(await post(client, WEBHOOK_URL, incoming_call(s), tally=tally)) for s in sids
            ]
            pending = [
                asyncio.ensure_future(post(client, a, speech(s, f"words {s[-3:]}"), tally=tally))
                for s, a in zip(sids, actions, strict=True)
                if a is not None
            ]
            asked = store / "asked"
            deadline = time.monotonic() + 20
            while (len(asked.read_text().split()) if asked.exists() else 0) < len(pending):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            server.send_signal(signal.SIGKILL)
            server.wait()
            await asyncio.gather(*pending)
    finally:
        server.kill()
        server.wait()
    server = _start(store, port, "answer")
    try:
        await wait_until_serving(port, server)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            retries = await asyncio.gather(
                *(
                    post(client, a, speech(s, f"words {s[-3:]}"), tally=tally)
                    for s, a in zip(sids, actions, strict=True)
                    if a is not None
                )
            )
    finally:
        server.kill()
        server.wait()
    tally.turns += calls
    recovered = sum(1 for retry in retries if any("Recovered" in line for line in spoken(retry)))
    tally.turns_lost += calls - recovered


async def crash_phase(directory: Path, scale: int) -> Tally:
    tally = Tally("crash")
    started = time.perf_counter()
    for round_ in range(2 * scale):
        await crash_round(directory, tally, round_, 10)
    tally.seconds = time.perf_counter() - started
    return tally


# ---------------------------------------------------------------------- report


HEADER = (
    "phase", "requests", "5xx", "forged ok", "turns", "turns lost", "agent runs",
    "copies", "same answer", "empty answers", "seconds",
)  # fmt: skip


def row(t: Tally) -> tuple[object, ...]:
    copied = bool(t.copies)
    return (
        t.phase, t.requests, t.server_errors, t.forged_accepted, t.turns, t.turns_lost,
        t.agent_runs if t.phase in ("copies", "faults") else "-",
        t.copies if copied else "-", t.copies_same_answer if copied else "-",
        t.empty_answers if copied else "-", f"{t.seconds:.1f}",
    )  # fmt: skip


def table(tallies: list[Tally]) -> str:
    rows = [HEADER, *(row(t) for t in tallies)]
    widths = [max(len(str(cell)) for cell in column) for column in zip(*rows, strict=True)]
    return "\n".join("  ".join(str(c).rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


async def main(scale: int, seed: int) -> list[Tally]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="telephony-reliability-") as tmp:
        directory = Path(tmp)

        async def fuzz_work(client: httpx.AsyncClient) -> Tally:
            return await fuzz(client, 3000 * scale, rng)

        calls = 5 * scale
        return [
            await served("fuzz", SlowAgent(rng, 0, 0), directory, fuzz_work),
            await conversations_phase("copies", SlowAgent(rng), directory, calls=calls, turns=4, copies=5),
            await conversations_phase(
                "faults",
                FaultyAgent(rng),
                directory,
                calls=calls,
                turns=6,
                copies=1,
                responseTimeoutMs=1500,
            ),
            await crash_phase(directory, scale),
        ]


def run_cli(argv: list[str]) -> int:
    scale, seed = 1, 7
    if argv[:1] == ["--scale"] and len(argv) > 1 and argv[1].isdigit() and int(argv[1]) > 0:
        scale = int(argv[1])
    started = time.perf_counter()
    tallies = asyncio.run(main(scale, seed))
    print(table(tallies))
    print(
        f"\nscale {scale}, seed {seed}, {time.perf_counter() - started:.0f} s. A turn is lost when the caller"
        " would hear nothing; 'same answer' counts copies answered exactly as the turn's last copy;"
        " 'agent runs' equal to 'turns' means no turn ran twice."
    )
    failed = any(t.server_errors or t.forged_accepted or t.turns_lost or t.empty_answers for t in tallies)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_cli(sys.argv[1:]))
