"""Stream mode through the real app and real WebSockets: the advertised stream URL is served."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
import respx
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from twilio_helpers import (
    ACCOUNT_SID,
    CALL_SID,
    WEBHOOK_URL,
    incoming_call,
    post_signed,
    twilio_app,
    twilio_config,
    twiml,
)

STREAM_SID = "MZ" + "9" * 32


def _connect_stream(client: TestClient[Any]) -> tuple[str, dict[str, str]]:
    """Place the inbound call; return the advertised stream URL and its parameters."""
    root = twiml(post_signed(client, WEBHOOK_URL, incoming_call()).text)
    stream = root.find("Connect/Stream")
    assert stream is not None, "stream mode must answer with <Connect><Stream>"
    params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
    return stream.attrib["url"], params


def _start(params: dict[str, str], call_sid: str = CALL_SID) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "accountSid": ACCOUNT_SID,
                "streamSid": STREAM_SID,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": params,
            },
            "streamSid": STREAM_SID,
        }
    )


def _until(ws: Any, event: str) -> list[dict[str, Any]]:
    """Frames received up to and including the first ``event`` frame."""
    frames = []
    while True:
        frame = json.loads(ws.receive_text())
        frames.append(frame)
        if frame["event"] == event:
            return frames


CONNECTED = json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})


def _refused_at_handshake(client: TestClient[Any], path: str) -> int:
    """The close code of a socket refused before it was accepted (a real server answers 403)."""
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(path):
        pass  # reached only if the socket was accepted
    return refused.value.code


def test_advertised_stream_url_is_mounted_and_greets_with_media(twilio_api: respx.MockRouter) -> None:
    with twilio_app(twilio_config(streaming=True)) as client:
        url, params = _connect_stream(client)
        assert set(params) == {"token", "callId"}
        assert url == f"wss://voice.example.com/voice/stream/{params['callId']}/{params['token']}"
        with client.websocket_connect(urlsplit(url).path) as ws:
            ws.send_text(CONNECTED)
            ws.send_text(_start(params))
            frames = _until(ws, "mark")
            ws.send_text(json.dumps({"event": "mark", "streamSid": STREAM_SID, "mark": frames[-1]["mark"]}))
            ws.send_text(
                json.dumps({"event": "stop", "streamSid": STREAM_SID, "stop": {"callSid": CALL_SID}})
            )
    media = [f for f in frames if f["event"] == "media"]
    assert len(media) > 25, "a greeting is more than half a second of audio"
    assert {f["streamSid"] for f in frames} == {STREAM_SID}
    sizes = {len(base64.b64decode(f["media"]["payload"])) for f in media}
    assert sizes == {160}, "20 ms frames of 8 kHz mu-law"


@pytest.mark.parametrize("token", ["wrong-token", "x" * 300, "bad%20token"])
def test_a_wrong_token_in_the_url_is_refused_at_the_handshake_and_spends_nothing(
    token: str, twilio_api: respx.MockRouter
) -> None:
    with twilio_app(twilio_config(streaming=True)) as client:
        url, params = _connect_stream(client)
        call_path = urlsplit(url).path.rsplit("/", 1)[0]
        assert _refused_at_handshake(client, f"{call_path}/{token}") == 1008
        assert _refused_at_handshake(client, f"/voice/stream/{'f' * 16}/{params['token']}") == 1008
        with client.websocket_connect(urlsplit(url).path) as ws:  # the real token was not spent
            ws.send_text(_start(params))
            assert json.loads(ws.receive_text())["event"] == "media"


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_a_start_message_naming_another_token_or_call_than_the_url_is_refused(token: str) -> None:
    config = twilio_config(streaming=True, maxConcurrentCalls=3)
    with twilio_app(config) as client:
        for n, named in enumerate(({"token": token}, {"callId": "f" * 16}, {"callId": ""})):
            call_sid = CALL_SID[:-1] + str(n)  # a call each: a refused socket spent its URL's token
            root = twiml(post_signed(client, WEBHOOK_URL, incoming_call(call_sid=call_sid)).text)
            stream = root.find("Connect/Stream")
            assert stream is not None
            params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
            with client.websocket_connect(urlsplit(stream.attrib["url"]).path) as ws:
                ws.send_text(_start(params | named, call_sid=call_sid))
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_text()
            assert closed.value.code == 1008, named


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_wrong_token_on_the_bare_path_gets_no_audio_and_a_closed_socket(token: str) -> None:
    # The second line: a socket whose URL names no call is checked by its start message alone.
    with twilio_app(twilio_config(streaming=True)) as client:
        _, params = _connect_stream(client)
        with client.websocket_connect("/voice/stream") as ws:
            ws.send_text(_start(params | {"token": token}))
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
    assert closed.value.code == 1008


def test_the_bare_path_still_streams_with_the_start_messages_token(twilio_api: respx.MockRouter) -> None:
    with twilio_app(twilio_config(streaming=True)) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect("/voice/stream") as ws:
            ws.send_text(_start(params))
            assert json.loads(ws.receive_text())["event"] == "media"
            ws.send_text(json.dumps({"event": "stop", "streamSid": STREAM_SID}))
        assert _refused_at_handshake(client, urlsplit(url).path) == 1008, "one token, one stream"


def test_reused_token_is_refused(twilio_api: respx.MockRouter) -> None:
    with twilio_app(twilio_config(streaming=True)) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect(urlsplit(url).path) as ws:
            ws.send_text(_start(params))
            _until(ws, "mark")
            ws.send_text(json.dumps({"event": "stop", "streamSid": STREAM_SID}))
        assert _refused_at_handshake(client, urlsplit(url).path) == 1008
        with client.websocket_connect("/voice/stream") as ws, pytest.raises(WebSocketDisconnect) as closed:
            ws.send_text(_start(params))
            ws.receive_text()
    assert closed.value.code == 1008


def test_token_is_bound_to_its_call() -> None:
    with twilio_app(twilio_config(streaming=True)) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect(urlsplit(url).path) as ws, pytest.raises(WebSocketDisconnect) as closed:
            ws.send_text(_start(params, call_sid="CA" + "7" * 32))
            ws.receive_text()
    assert closed.value.code == 1008


def test_media_before_start_is_refused() -> None:
    with twilio_app(twilio_config(streaming=True)) as client:
        url, _ = _connect_stream(client)
        media = {"event": "media", "media": {"payload": "//8="}, "streamSid": STREAM_SID}
        with client.websocket_connect(urlsplit(url).path) as ws, pytest.raises(WebSocketDisconnect) as closed:
            ws.send_text(json.dumps(media))
            ws.receive_text()
    assert closed.value.code == 1008


def test_stream_route_is_not_mounted_when_streaming_is_off() -> None:
    with twilio_app(twilio_config(streaming=False)) as client:
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/voice/stream") as ws:
            ws.receive_text()
        assert client.get("/health").json()["stream"] is None


def test_live_streams_are_capped_once_authenticated(twilio_api: respx.MockRouter) -> None:
    # maxConnections counts streams whose token was accepted; a second call's stream is
    # refused with 1013 (try again later) only when it would be the second live one.
    config = twilio_config(streaming={"enabled": True, "maxConnections": 1}, maxConcurrentCalls=2)
    with twilio_app(config) as client:
        url, params = _connect_stream(client)
        other = CALL_SID[:-1] + "8"
        root = twiml(post_signed(client, WEBHOOK_URL, incoming_call(call_sid=other)).text)
        stream = root.find("Connect/Stream")
        assert stream is not None
        other_params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
        with client.websocket_connect(urlsplit(url).path) as first:
            first.send_text(_start(params))
            assert json.loads(first.receive_text())["event"] == "media"
            with (
                client.websocket_connect(urlsplit(stream.attrib["url"]).path) as second,
                pytest.raises(WebSocketDisconnect) as closed,
            ):
                second.send_text(_start(other_params, call_sid=other))
                second.receive_text()
            first.send_text(json.dumps({"event": "stop", "streamSid": STREAM_SID}))
    assert closed.value.code == 1013
