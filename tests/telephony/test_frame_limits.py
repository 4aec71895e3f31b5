"""Oversized media frames are refused by the server while reading, text or binary."""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from telephony.config import config_from_mapping
from telephony.runtime import Runtime
from telephony.server import MAX_FRAME_BYTES, background_server, create_app, free_port, server_limits


@pytest.mark.parametrize(
    "frame", ["x" * (MAX_FRAME_BYTES + 1), b"\x00" * (MAX_FRAME_BYTES + 1)], ids=["text", "binary"]
)
async def test_a_frame_over_the_limit_closes_the_socket_with_1009(frame: str | bytes, tmp_path: Path) -> None:
    port = free_port()
    config = config_from_mapping(
        {
            "provider": "local",
            "serve": {"port": port},
            "streaming": {"enabled": True},
            "store": str(tmp_path),
            "stt": "pocketsphinx",
            "ttsEngine": "espeak",
            "agent": "builtin",
        },
        env={},
    )
    assert server_limits(config)["ws_max_size"] == MAX_FRAME_BYTES
    runtime = Runtime.build(config)
    async with background_server(create_app(config, runtime=runtime), port=port) as url:
        stream = url.replace("http://", "ws://") + "/voice/stream"
        async with connect(stream, max_size=None) as ws:
            await ws.send(frame)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009, closed.value.rcvd
    assert closed.value.rcvd.reason != "frame too large", "the server itself must refuse it, not the app"
