"""Shutting the server down in the middle of a call leaves nothing running behind it."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

from telephony.adapters.local import LocalCarrier
from telephony.config import config_from_mapping
from telephony.runtime import Runtime
from telephony.server import background_server, create_app, free_port


async def test_shutdown_mid_call_leaves_no_task_and_no_worker_process(tmp_path: Path) -> None:
    port = free_port()
    config = config_from_mapping(
        {
            "provider": "local",
            "inboundPolicy": "open",
            "serve": {"port": port},
            "streaming": {"enabled": True},
            "store": str(tmp_path),
            "agent": "builtin",
            "stt": "pocketsphinx",
            "ttsEngine": "espeak",
            "maxDurationSeconds": 600,
            "carriers": {"local": {"secret": "shutdown-test"}},
        },
        env={},
    )
    runtime = Runtime.build(config)
    carrier = runtime.carrier
    assert isinstance(carrier, LocalCarrier)
    before = asyncio.all_tasks()
    caller: asyncio.Task[object] | None = None
    async with background_server(create_app(config, runtime=runtime), port=port):
        # A silent caller on a media stream: timers, playback, recognition and the recognizer's
        # worker process are all live when the server is told to stop.
        caller = asyncio.create_task(
            carrier.simulator.inbound_call(caller="+14158675309", callee="+18005551212", script=[])
        )
        for _ in range(400):
            live = await runtime.store.list_calls(active_only=True)
            if live and multiprocessing.active_children():
                break
            await asyncio.sleep(0.025)
        assert live, "the call never started"
        assert multiprocessing.active_children(), "the recognizer's worker never started"
    # The far end notices the server went away (its last status callback fails to connect);
    # nothing of ours may still be running.
    assert caller is not None
    await asyncio.wait([caller], timeout=10)
    assert caller.done() and caller.exception() is not None
    leftover = asyncio.all_tasks() - before - {asyncio.current_task()}
    assert not leftover, leftover
    assert multiprocessing.active_children() == []
