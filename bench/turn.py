"""Store cost: one markup turn through the real app, on SQLite against the in-memory store.

A turn is what a caller waits for between finishing a sentence and hearing the reply: Twilio
posts the ``<Gather>`` result, the server verifies the signature, claims the webhook, the
engine stores the words, asks the agent, stores the reply, and the answer goes back as TwiML.
The agent here answers instantly, so the figure is our own overhead, and the SQLite row's ratio
to the memory row is what durable state costs on top of it. Each call is ended with a signed
status callback between repeats (untimed), as Twilio would.

The store is wrapped to count its calls during the timed turns only, so the write count per
turn can be checked as the engine batches its writes (a :class:`~telephony.store.WriteBatch`
commit counts as one write: it is one transaction).

A third side runs SQLite with ``synchronous=FULL`` (a disk flush at every commit), to show what
the default ``NORMAL`` saves. The SQLite files live in the system temporary directory, and the
FULL row depends on that disk's flush speed: point ``TMPDIR`` at the disk you deploy on.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.etree import ElementTree

from litestar.testing import AsyncTestClient
from twilio.request_validator import RequestValidator

from telephony.config import config_from_mapping
from telephony.providers import AgentReply, AgentRequest
from telephony.runtime import Runtime
from telephony.server import create_app
from telephony.store import CallStore, MemoryCallStore, SqliteCallStore

from ._harness import Cost, Result, is_noisy, median_us, paired_ratio
from ._signals import ACCOUNT_SID

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
PUBLIC_URL = "https://voice.example.com"
WEBHOOK_URL = PUBLIC_URL + "/voice/webhook"
CALLER = "+14158675309"
OUR_NUMBER = "+18005551212"

TURNS = 10  # timed gather turns per call
REPEATS = 21  # calls per store, rotating which store goes first
WARMUP = 2
TARGET = 1.5  # issue 5: SQLite turn latency under 1.5x memory once the engine batches its writes

WRITES = frozenset(
    {
        "create",
        "save",
        "append_turn",
        "claim_event",
        "renew_event",
        "release_event",
        "set_reply",
        "issue_token",
        "consume_token",
    }
)
READS = frozenset({"get", "get_by_provider_id", "list_calls", "count_active", "get_reply"})


class InstantAgent:
    """An agent that answers at once, so the turn time is the framework's own."""

    async def reply(self, request: AgentRequest) -> AgentReply:
        return AgentReply(text=f"Noted, that was line {len(request.transcript)}.")


class _CountedBatch:
    """Passes a write batch through, counting its commit as one write call."""

    def __init__(self, batch: Any, counts: Counter[str]) -> None:
        self._batch = batch
        self._counts = counts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    async def __aenter__(self) -> _CountedBatch:
        await self._batch.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None and self._batch.operations:
            self._counts["transaction"] += 1
        await self._batch.__aexit__(exc_type, exc, tb)


class CountingStore:
    """A call store wrapper that counts every method call by name.

    Generic on purpose: whatever methods the store contract gains, calls are passed through and
    counted, and a name it does not know is shown in the breakdown rather than dropped.
    """

    def __init__(self, inner: CallStore) -> None:
        self._inner = inner
        self.counting = False
        self.counts: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or not callable(attr):
            return attr
        if name == "transaction":

            def transaction() -> _CountedBatch:
                return _CountedBatch(attr(), self.counts if self.counting else Counter())

            return transaction

        async def counted(*args: Any, **kwargs: Any) -> Any:
            if self.counting:
                self.counts[name] += 1
            return await attr(*args, **kwargs)

        return counted


class _Caller:
    """Drives one app as Twilio would: signed form posts, following each ``<Gather>`` action."""

    def __init__(self, client: AsyncTestClient[Any], store: CountingStore) -> None:
        self.client = client
        self.store = store
        self._validator = RequestValidator(AUTH_TOKEN)
        self._calls = 0

    async def _post(self, url: str, params: dict[str, str]) -> str:
        signature = self._validator.compute_signature(url, params)
        parts = urlsplit(url)
        response = await self.client.post(
            parts.path + (f"?{parts.query}" if parts.query else ""),
            content=urlencode(params).encode(),
            headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"webhook answered {response.status_code}: {response.text[:200]}")
        return response.text

    @staticmethod
    def _gather_action(twiml: str) -> str:
        gather = ElementTree.fromstring(twiml).find("Gather")
        if gather is None:
            raise RuntimeError(f"expected a <Gather> in the reply, got {twiml[:200]}")
        return gather.attrib["action"]

    async def call(self, turns: int) -> int:
        """One inbound call with ``turns`` gather turns; returns the nanoseconds the turns took."""
        self._calls += 1
        form = {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": f"CA{self._calls:032x}",
            "Direction": "inbound",
            "From": CALLER,
            "To": OUR_NUMBER,
        }
        action = self._gather_action(await self._post(WEBHOOK_URL, form | {"CallStatus": "ringing"}))
        call_id = parse_qs(urlsplit(action).query)["callId"][0]
        spent = 0
        for turn in range(turns):
            params = form | {
                "CallStatus": "in-progress",
                "SpeechResult": f"I would like to move my appointment, take {turn}.",
                "Confidence": "0.91",
            }
            signature = self._validator.compute_signature(action, params)  # the carrier's work, untimed
            parts = urlsplit(action)
            body = urlencode(params).encode()
            headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
            self.store.counting = True
            started = time.perf_counter_ns()
            response = await self.client.post(f"{parts.path}?{parts.query}", content=body, headers=headers)
            spent += time.perf_counter_ns() - started
            self.store.counting = False
            if response.status_code != 200:
                raise RuntimeError(f"gather turn answered {response.status_code}: {response.text[:200]}")
            action = self._gather_action(response.text)
        status = f"{WEBHOOK_URL}?callId={call_id}&kind=status"
        await self._post(status, form | {"CallStatus": "completed", "CallDuration": "30"})
        return spent


def _config(directory: Path) -> Any:
    return config_from_mapping(
        {
            "provider": "twilio",
            "fromNumber": OUR_NUMBER,
            "publicUrl": PUBLIC_URL,
            "inboundPolicy": "open",
            "store": str(directory),
            "twilio": {"accountSid": ACCOUNT_SID, "authToken": AUTH_TOKEN},
            "streaming": {"enabled": False},
        },
        env={},
    )


SIDES = ("memory", "sqlite", "sqlite FULL")
"""The default store, the default durable store, and the same with a disk flush at every commit."""


def _stores(directory: Path) -> dict[str, CountingStore]:
    return {
        "memory": CountingStore(MemoryCallStore()),
        "sqlite": CountingStore(SqliteCallStore(directory / "normal")),
        "sqlite FULL": CountingStore(SqliteCallStore(directory / "full", synchronous="FULL")),
    }


async def _measure(directory: Path) -> tuple[dict[str, list[int]], Counter[str]]:
    config = _config(directory)
    stores = _stores(directory)
    async with contextlib.AsyncExitStack() as stack:
        callers: dict[str, _Caller] = {}
        for name, store in stores.items():
            runtime = Runtime.build(config, store=store, agent=InstantAgent())  # type: ignore[arg-type]
            client = await stack.enter_async_context(AsyncTestClient(create_app(config, runtime=runtime)))
            callers[name] = _Caller(client, store)
        for _ in range(WARMUP):
            for caller in callers.values():
                await caller.call(TURNS)
        for store in stores.values():
            store.counts.clear()
        timings: dict[str, list[int]] = {name: [] for name in SIDES}
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for i in range(REPEATS):
                # Rotate who goes first, so each store meets the machine's moods evenly.
                for name in SIDES[i % len(SIDES) :] + SIDES[: i % len(SIDES)]:
                    timings[name].append(await callers[name].call(TURNS))
                gc.collect()  # between calls, never inside a timed turn
        finally:
            if gc_was_enabled:
                gc.enable()
    counts = {name: store.counts for name, store in stores.items()}
    if any(c != counts["memory"] for c in counts.values()):
        raise AssertionError(f"the stores saw different calls: {counts}")
    return timings, counts["sqlite"]


def _per_turn(counts: Counter[str], names: Callable[[str], bool]) -> dict[str, float]:
    turns = REPEATS * TURNS
    return {name: count / turns for name, count in sorted(counts.items()) if names(name)}


def run() -> list[Result]:
    """Markup turn latency, SQLite against memory, with store calls per turn."""
    with tempfile.TemporaryDirectory(prefix="telephony-bench-") as directory:
        timings, counts = asyncio.run(_measure(Path(directory)))
    writes = _per_turn(counts, lambda name: name in WRITES or name == "transaction")
    reads = _per_turn(counts, lambda name: name in READS)
    other = _per_turn(counts, lambda name: name not in WRITES | READS | {"transaction"})

    def breakdown(calls: dict[str, float]) -> str:
        return ", ".join(f"{name} {count:g}" for name, count in calls.items()) or "none"

    details = {
        "store writes per turn (a batch commit counts once)": f"{sum(writes.values()):g} "
        f"({breakdown(writes)})",
        "store reads per turn": f"{sum(reads.values()):g} ({breakdown(reads)})",
    }
    if other:
        details["other store calls per turn"] = breakdown(other)
    memory = timings["memory"]

    def cost(side: str, label: str, *, target: float | None, extra: dict[str, str]) -> Cost:
        return Cost(
            "markup turn (signed gather webhook -> TwiML, instant agent)",
            reference="memory store",
            reference_us=median_us(memory, TURNS),
            subject=label,
            subject_us=median_us(timings[side], TURNS),
            ratio=paired_ratio(timings[side], memory),  # per call of TURNS turns, back to back
            target=target,
            noisy=is_noisy(memory, timings[side]),
            details=extra,
        )

    return [
        cost("sqlite", "sqlite store (default: WAL, synchronous=NORMAL)", target=TARGET, extra=details),
        cost("sqlite FULL", "sqlite store, synchronous=FULL (for comparison)", target=None, extra={}),
    ]
