"""Engine behaviour that needs no HTTP: notify hang-up on playback, unknown calls, restarts."""

from __future__ import annotations

import asyncio
import gc
import json

from twilio_helpers import WEBHOOK_URL, incoming_call, post_signed, twilio_app, twilio_config, twiml

from telephony.call_locks import CallLocks
from telephony.config import config_from_mapping
from telephony.providers import CallEnded, CarrierContext, NoInput, PlaybackFinished, load
from telephony.runtime import Runtime
from telephony.store import CallRecord, MemoryCallStore


def _runtime() -> Runtime:
    config = config_from_mapping({"provider": "local", "fromNumber": "+15005550006"}, env={})
    carrier = load("telephony.carriers", "local")(
        {"secret": "s"}, CarrierContext(public_url="http://127.0.0.1:1")
    )
    return Runtime.build(config, carrier=carrier, store=MemoryCallStore())


async def _notify_call(runtime: Runtime) -> CallRecord:
    record = CallRecord(
        call_id="c1",
        provider="local",
        provider_call_id="LC1",
        direction="outbound",
        mode="notify",
        message="Your table is ready.",
        created_at=0.0,
        state="speaking",
    )
    await runtime.store.create(record)
    return record


async def test_notify_call_hangs_up_when_playback_is_confirmed() -> None:
    runtime = _runtime()
    async with runtime.running():
        await _notify_call(runtime)
        answer = await runtime.engine.answer(PlaybackFinished(provider_call_id="LC1", event_id="e1"))
        assert json.loads(answer.body)["actions"] == []  # a plain acknowledgement, stored as e1's answer
        assert await runtime.store.get_reply("e1") == (answer.content_type, answer.body)
        for _ in range(50):
            record = await runtime.store.get("c1")
            if record is not None and record.terminal:
                break
            await asyncio.sleep(0.01)
    assert record is not None and record.state == "hangup-bot"
    assert "LC1" in runtime.carrier.control.hung_up  # type: ignore[attr-defined]


async def test_events_for_unknown_calls_change_nothing() -> None:
    runtime = _runtime()
    answer = await runtime.engine.answer(NoInput(provider_call_id="LC9", event_id="e1", expects_reply=True))
    assert answer is not None and json.loads(answer.body)["actions"] == [
        {"action": "hangup", "after_playback": False}
    ]
    assert await runtime.store.list_calls() == []
    await runtime.aclose()


def test_a_completed_callback_before_the_answer_webhook_frees_the_slot_for_the_next_caller() -> None:
    early = incoming_call() | {
        "CallStatus": "completed",
        "CallDuration": "0",
        "CallbackSource": "call-progress-events",
    }
    with twilio_app(twilio_config(maxConcurrentCalls=1)) as client:
        assert post_signed(client, WEBHOOK_URL + "?kind=status", early).status_code == 200
        late = twiml(post_signed(client, WEBHOOK_URL, incoming_call()).text)
        again = twiml(post_signed(client, WEBHOOK_URL + "?kind=status", early).text)  # Twilio's retry
        next_caller = twiml(post_signed(client, WEBHOOK_URL, incoming_call("CA" + "2" * 32)).text)
        calls = client.get("/api/calls").json()
    assert late.find("Reject") is not None and late.find("Gather") is None, "the ended call is not started"
    assert again.tag == "Response"
    assert next_caller.find("Gather") is not None, "the next caller is answered, not refused as busy"
    ended = [call for call in calls if call["provider_call_id"] == "CA" + "1" * 32]
    assert [(call["state"], call["end_reason"]) for call in ended] == [("completed", "completed")]


async def test_terminal_state_absorbs_late_events() -> None:
    runtime = _runtime()
    await _notify_call(runtime)
    await runtime.engine.answer(CallEnded(provider_call_id="LC1", event_id="e1", reason="busy"))
    await runtime.engine.answer(CallEnded(provider_call_id="LC1", event_id="e2", reason="completed"))
    record = await runtime.store.get("c1")
    assert record is not None and (record.state, record.end_reason) == ("busy", "busy")
    await runtime.aclose()


async def test_stale_calls_are_reaped_and_fresh_ones_kept() -> None:
    now = [1000.0]
    config = config_from_mapping({"provider": "local", "staleCallReaperSeconds": 120}, env={})
    carrier = load("telephony.carriers", "local")(
        {"secret": "s"}, CarrierContext(public_url="http://127.0.0.1:1")
    )
    runtime = Runtime.build(config, carrier=carrier, store=MemoryCallStore(clock=lambda: now[0]))
    runtime.engine._clock = lambda: now[0]
    old = CallRecord(
        call_id="old", provider="local", provider_call_id="LC1", direction="inbound", created_at=800.0
    )
    new = CallRecord(
        call_id="new", provider="local", provider_call_id="LC2", direction="inbound", created_at=950.0
    )
    await runtime.store.create(old)
    await runtime.store.create(new)
    assert await runtime.engine.reap_stale_calls() == ["old"]
    reaped = await runtime.store.get("old")
    kept = await runtime.store.get("new")
    assert reaped is not None and reaped.state == "timeout"
    assert kept is not None and not kept.terminal
    await runtime.aclose()


def test_silence_timeout_reaches_bundled_recognizers() -> None:
    from telephony.plugins import load_stt

    config = config_from_mapping({"silenceTimeoutMs": 1200}, env={})
    stt = load_stt(config)
    assert stt.vad.silence_ms == 1200  # type: ignore[attr-defined]


async def test_per_call_locks_are_forgotten_once_unused() -> None:
    locks = CallLocks(MemoryCallStore(), lease_seconds=6)
    first = locks._local_lock("c1")
    assert locks._local_lock("c1") is first, "one lock per call while it is in use"
    async with locks["c2"]:
        waiter = asyncio.ensure_future(_hold(locks, "c2"))
        await asyncio.sleep(0)
        assert len(locks) == 2
    await waiter
    del first
    gc.collect()
    assert len(locks) == 0, "no lock is kept for a call nobody is working on"


async def _hold(locks: CallLocks, call_id: str) -> None:
    async with locks[call_id]:
        await asyncio.sleep(0)
