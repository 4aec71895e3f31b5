"""Memory per completed call: ``python -m bench.memory [--calls N] [--traced N] [memory|sqlite ...]``.

Not a speed benchmark: a server runs for months, so whatever one finished call leaves behind in
the process adds up. Each store gets a fresh app (the real Litestar app through its test client,
the Twilio adapter, an instant agent) and a run of complete inbound calls as Twilio makes them:
the signed voice webhook, one signed ``<Gather>`` turn, and the signed ``completed`` status
callback. After a warm-up (caches, lazy imports, the first SQLite pages), it reports:

- **RSS growth** per 1,000 calls, over a pass of ``--calls`` calls without tracemalloc (which
  costs memory itself), overall and for each successive 1,000: a leak grows at the same pace
  throughout, a cache filling up (SQLite's page cache) slows down and stops;
- **tracemalloc growth** per 1,000 calls, over a second pass of ``--traced`` calls, and the
  allocation sites that grew most between the snapshots before and after it;
- **per-call structures left**: entries in the engine's, claims' and stores' per-call tables
  once every call is over (the regression test in ``tests/telephony/test_call_memory.py`` checks
  these for the in-process tables).

The memory store keeps every call record by design (it is the development store, with nothing on
disk), so its figures include the records themselves; the SQLite rows are what a deployed server
keeps per call in the process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import linecache
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.etree import ElementTree

from litestar import Litestar
from litestar.testing import AsyncTestClient
from twilio.request_validator import RequestValidator

from telephony.runtime import Runtime
from telephony.server import WebhookClaims, create_app
from telephony.server._app import _SERVED
from telephony.store import CallStore, MemoryCallStore, SqliteCallStore

from ._signals import ACCOUNT_SID
from .turn import AUTH_TOKEN, CALLER, OUR_NUMBER, WEBHOOK_URL, InstantAgent, _config

ROOT = Path(__file__).resolve().parent.parent
CALLS = 3000
TRACED = 1000
WARMUP = 300
SEGMENT = 1000
TOP = 12
STORES: dict[str, Callable[[Path], CallStore]] = {
    "memory": lambda _directory: MemoryCallStore(),
    "sqlite": lambda directory: SqliteCallStore(directory),
}


def _rss_bytes() -> int:
    """Resident set size now (Linux ``/proc``), else the peak the OS reports."""
    statm = Path("/proc/self/statm")
    if statm.is_file():
        return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class _Twilio:
    """Places complete inbound calls on one app as Twilio would: signed form posts."""

    def __init__(self, client: AsyncTestClient[Any]) -> None:
        self.client = client
        self._validator = RequestValidator(AUTH_TOKEN)
        self.calls = 0

    async def _post(self, url: str, params: dict[str, str]) -> str:
        parts = urlsplit(url)
        response = await self.client.post(
            parts.path + (f"?{parts.query}" if parts.query else ""),
            content=urlencode(params).encode(),
            headers={
                "X-Twilio-Signature": self._validator.compute_signature(url, params),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        if response.status_code != 200:
            raise RuntimeError(f"webhook answered {response.status_code}: {response.text[:200]}")
        return response.text

    async def call(self) -> None:
        """One call from ringing to ``completed``, with one caller turn."""
        self.calls += 1
        form = {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": f"CA{self.calls:032x}",
            "Direction": "inbound",
            "From": CALLER,
            "To": OUR_NUMBER,
        }
        answer = await self._post(WEBHOOK_URL, form | {"CallStatus": "ringing"})
        gather = ElementTree.fromstring(answer).find("Gather")
        if gather is None:
            raise RuntimeError(f"expected a <Gather> in the answer, got {answer[:200]}")
        action = gather.attrib["action"]
        turn = form | {"CallStatus": "in-progress", "SpeechResult": "I'd like to move my appointment."}
        await self._post(action, turn | {"Confidence": "0.9"})
        call_id = parse_qs(urlsplit(action).query)["callId"][0]
        status = f"{WEBHOOK_URL}?callId={call_id}&kind=status"
        await self._post(status, form | {"CallStatus": "completed", "CallDuration": "12"})


@dataclass(frozen=True)
class Measured:
    """What one store's run left behind."""

    store: str
    calls: int
    rss_per_1000: float
    rss_segments: list[float]
    traced_calls: int
    traced_per_1000: float
    top: list[str]
    leftovers: dict[str, int]


def _claims(app: Litestar) -> WebhookClaims:
    """The webhook claims the app's routes share (kept in the route handlers' ``opt``)."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            served = handler.opt.get(_SERVED)
            if served is not None:
                claims: WebhookClaims = served.claims
                return claims
    raise LookupError("no telephony routes in the app")


def leftovers(app: Litestar) -> dict[str, int]:
    """Entries in the per-call tables of the engine, claims and store (all should be 0 when idle)."""
    runtime: Runtime = app.state.runtime
    engine = runtime.engine
    tables: dict[str, object] = {
        "engine timers": engine._timers,
        "engine listening timers": engine._listening,
        "engine streams": engine._streams,
        "engine call locks": engine._locks._local,
        "held-turn wake-ups": engine.held._replied_to,
        "webhook claims in flight": _claims(app)._finished,
    }
    counts = {name: len(table) for name, table in tables.items()}  # type: ignore[arg-type]
    store = runtime.store
    if isinstance(store, MemoryCallStore):
        counts["memory store: call records (kept by design)"] = len(store._calls)
        counts["memory store: claimed events"] = len(store._events)
        counts["memory store: cached replies"] = len(store._replies)
    return counts


def _site(stat: tracemalloc.StatisticDiff) -> str:
    frame = stat.traceback[0]
    line = linecache.getline(frame.filename, frame.lineno).strip()
    where = frame.filename
    for prefix, name in ((ROOT, ""), (Path(sys.prefix), "<venv>/"), (Path(sys.base_prefix), "<python>/")):
        if where.startswith(f"{prefix}/"):
            where = name + where.removeprefix(f"{prefix}/")
            break
    return (
        f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  {where}:{frame.lineno}  {line[:70]}"
    )


async def _measure(name: str, directory: Path, calls: int, traced_calls: int, top: int) -> Measured:
    store = STORES[name](directory)
    config = _config(directory)
    app = create_app(config, runtime=Runtime.build(config, store=store, agent=InstantAgent()))
    async with AsyncTestClient(app) as client:
        twilio = _Twilio(client)
        for _ in range(WARMUP):
            await twilio.call()
        gc.collect()
        samples = [_rss_bytes()]
        for done in range(1, calls + 1):
            await twilio.call()
            if done % SEGMENT == 0 or done == calls:
                gc.collect()
                samples.append(_rss_bytes())
        tracemalloc.start(8)
        try:
            gc.collect()
            before = tracemalloc.take_snapshot()
            for _ in range(traced_calls):
                await twilio.call()
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        found = leftovers(app)
    filters = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, linecache.__file__)]
    diff = after.filter_traces(filters).compare_to(before.filter_traces(filters), "lineno")
    traced = sum(stat.size_diff for stat in diff)
    return Measured(
        store=name,
        calls=calls,
        rss_per_1000=(samples[-1] - samples[0]) / calls * 1000 / 2**20,
        rss_segments=[(after - before) / 2**20 for before, after in itertools.pairwise(samples)],
        traced_calls=traced_calls,
        traced_per_1000=traced / traced_calls * 1000 / 2**20,
        top=[_site(stat) for stat in diff[:top]],
        leftovers=found,
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=CALLS, help="calls per store measured by RSS")
    parser.add_argument("--traced", type=int, default=TRACED, help="calls per store traced by tracemalloc")
    parser.add_argument("--top", type=int, default=TOP, help="allocation sites to list per store")
    parser.add_argument("stores", nargs="*", choices=[*STORES, []], default=[])
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = []
    for name in args.stores or list(STORES):
        with tempfile.TemporaryDirectory(prefix="telephony-bench-") as directory:
            results.append(asyncio.run(_measure(name, Path(directory), args.calls, args.traced, args.top)))
    print(
        f"per store: {WARMUP} warm-up calls, {args.calls} calls measured by RSS, then {args.traced} "
        f"traced by tracemalloc; {time.perf_counter() - started:.0f} s in all\n"
    )
    for result in results:
        print(
            f"{result.store}: RSS {result.rss_per_1000:+.2f} MB per 1,000 calls "
            f"(each 1,000 in turn: {', '.join(f'{mb:+.2f}' for mb in result.rss_segments)} MB), "
            f"tracemalloc {result.traced_per_1000:+.2f} MB per 1,000 calls"
        )
        for label, count in result.leftovers.items():
            print(f"  {label}: {count}")
        print("  top allocation sites (growth over the tracemalloc pass):")
        for line in result.top:
            print(f"    {line}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
