"""The Telnyx adapter alone: Ed25519 signatures and the reference vector, every documented event,
every command's REST request, dialing, media frames, settings; then whole calls through the app.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from litestar.testing import TestClient
from telnyx_helpers import (
    API,
    API_KEY,
    CONNECTION_ID,
    PRIVATE_KEY,
    PUBLIC_KEY,
    envelope,
    signed_headers,
    telnyx_settings,
)
from twilio_helpers import from_client

from telephony.adapters.telnyx import (
    TELNYX_SETTINGS,
    TelnyxApi,
    TelnyxCallControl,
    TelnyxCarrier,
    TelnyxMediaCodec,
    TelnyxResponder,
    TelnyxWebhooks,
    create_carrier,
)
from telephony.config import ConfigError, config_from_mapping
from telephony.providers import (
    AdapterConfigError,
    Answer,
    AudioFormat,
    AudioReceived,
    CallAnswered,
    CallControlError,
    CallEnded,
    CallIdentity,
    CallInitiated,
    CallRef,
    CallStarted,
    CarrierContext,
    ClearAudio,
    ConnectStream,
    DialCallbacks,
    DigitReceived,
    Gather,
    Hangup,
    Ignored,
    MarkReached,
    MediaRejected,
    Pause,
    Play,
    PlaybackFinished,
    Record,
    RecordingReady,
    Redirect,
    Reject,
    ReplyContext,
    RetryPolicy,
    Say,
    SendAudio,
    SendDigits,
    SendMark,
    StreamStarted,
    StreamStopped,
    Transfer,
    UserInput,
    WebhookRejected,
    WebhookRequest,
)
from telephony.runtime import Runtime
from telephony.server import create_app
from telephony.store import MemoryCallStore

# ---------------------------------------------------------------- the reference vector (protocols §2.2)

VECTOR_PUBLIC_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
VECTOR_TIMESTAMP = "1700000000"
VECTOR_BODY = (
    b'{"data":{"event_type":"call.initiated","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",'
    b'"occurred_at":"2018-02-02T22:25:27.521992Z","payload":{"call_control_id":'
    b'"v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg","call_leg_id":'
    b'"428c31b6-7af4-4bcb-b7f5-5013ef9657c1","call_session_id":"428c31b6-7af4-4bcb-b7f5-5013ef9657c1",'
    b'"client_state":"aGF2ZSBhIG5pY2UgZGF5ID1d","connection_id":"7267xxxxxxxxxxxxxx","direction":'
    b'"incoming","from":"+35319605860","state":"parked","to":"+35319605860"},"record_type":"event"},'
    b'"meta":{"attempt":1,"delivered_to":"https://example.com/webhooks"}}'
)
VECTOR_SIGNATURE = "kP83LRWvYIon9+hOGmDfZC5htU9S1S8qb0QSAohupBWhEV7+frqSecWwKepk4Z4rZyeZcHqB896Gwvhnb3cGAg=="
VECTOR_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")

URL = "https://voice.example.com/voice/webhook"
CONTROL_ID = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"
CALL = CallRef(
    call_id="c1", provider_call_id=CONTROL_ID, from_number="+18005551212", to_number="+14158675309"
)
STATE = CallIdentity(call_id="c1").client_state()
PAYLOAD = {
    "call_control_id": CONTROL_ID,
    "call_leg_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
    "call_session_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
    "connection_id": "7267xxxxxxxxxxxxxx",
    "from": "+35319605860",
    "to": "+35319605860",
}


def _request(body: bytes, headers: dict[str, str] | None = None, url: str = URL) -> WebhookRequest:
    return WebhookRequest(
        method="POST", url=url, headers={k.lower(): v for k, v in (headers or {}).items()}, body=body
    )


def _verifier(key: str = PUBLIC_KEY, now: float | None = None) -> TelnyxWebhooks:
    return TelnyxWebhooks(key, clock=(lambda: now) if now is not None else time.time)


def test_the_reference_vector_is_copied_byte_exactly_and_verifies() -> None:
    assert len(VECTOR_BODY) == 578
    assert hashlib.sha256(VECTOR_BODY).hexdigest() == (
        "45f0358698c91e9e1a035dd381932d38e17f6658fe62357f2bdb33a31f694f94"
    )
    headers = {"telnyx-signature-ed25519": VECTOR_SIGNATURE, "telnyx-timestamp": VECTOR_TIMESTAMP}
    _verifier(VECTOR_PUBLIC_KEY, now=1700000000 + 299).verify(_request(VECTOR_BODY, headers))


def test_the_reference_vector_is_reproduced_from_its_rfc_8032_seed() -> None:
    key = Ed25519PrivateKey.from_private_bytes(VECTOR_SEED)
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert base64.b64encode(raw).decode() == VECTOR_PUBLIC_KEY
    signature = key.sign(VECTOR_TIMESTAMP.encode() + b"|" + VECTOR_BODY)
    assert base64.b64encode(signature).decode() == VECTOR_SIGNATURE


@pytest.mark.parametrize(
    ("timestamp", "now", "reason"),
    [
        ("1700000001", 1700000000, "invalid"),  # the vector's own negative case
        (VECTOR_TIMESTAMP, None, "stale"),  # a live clock: the vector is years old
        (VECTOR_TIMESTAMP, 1700000000 + 301, "stale"),
        (VECTOR_TIMESTAMP, 1700000000 - 301, "stale"),  # from the future, too
    ],
)
def test_the_reference_vector_fails_when_changed_or_stale(
    timestamp: str, now: float | None, reason: str
) -> None:
    headers = {"telnyx-signature-ed25519": VECTOR_SIGNATURE, "telnyx-timestamp": timestamp}
    with pytest.raises(WebhookRejected) as caught:
        _verifier(VECTOR_PUBLIC_KEY, now=now).verify(_request(VECTOR_BODY, headers))
    assert caught.value.status == 403 and reason in caught.value.reason


# ---------------------------------------------------------------- signatures with a generated key


def _key_forms() -> dict[str, str]:
    public = PRIVATE_KEY.public_key()
    der = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    return {"raw": PUBLIC_KEY, "der": base64.b64encode(der).decode(), "pem": pem}


@pytest.mark.parametrize("form", ["raw", "der", "pem"])
def test_the_public_key_is_accepted_in_all_three_forms(form: str) -> None:
    body = envelope("call.initiated", PAYLOAD | {"direction": "incoming"})
    _verifier(_key_forms()[form]).verify(_request(body, signed_headers(body)))


def test_a_signature_in_the_url_safe_alphabet_verifies() -> None:
    body = envelope("call.answered", PAYLOAD)
    headers = signed_headers(body)
    signature = base64.b64decode(headers["telnyx-signature-ed25519"])
    headers["telnyx-signature-ed25519"] = base64.urlsafe_b64encode(signature).decode().rstrip("=")
    _verifier().verify(_request(body, headers))


NOW = 1_800_000_000.0  # the verifier's clock in the cases below, built at collection time


def _bad_cases() -> Iterator[Any]:
    body = envelope("call.hangup", PAYLOAD | {"hangup_cause": "normal_clearing"})
    good = signed_headers(body, now=NOW)
    yield pytest.param(body, {}, 401, id="unsigned")
    yield pytest.param(
        body, {"telnyx-signature-ed25519": good["telnyx-signature-ed25519"]}, 401, id="no-timestamp"
    )
    other = Ed25519PrivateKey.generate()
    yield pytest.param(body, signed_headers(body, now=NOW, key=other), 403, id="signed-by-another-key")
    yield pytest.param(body.replace(b"normal_clearing", b"call_rejected"), good, 403, id="tampered-body")
    yield pytest.param(
        body, good | {"telnyx-timestamp": str(int(good["telnyx-timestamp"]) + 1)}, 403, id="moved-time"
    )
    yield pytest.param(body, signed_headers(body, now=NOW - 301), 403, id="stale")
    yield pytest.param(body, signed_headers(body, now=NOW + 301), 403, id="future")
    yield pytest.param(body, good | {"telnyx-signature-ed25519": "not-base64!"}, 403, id="garbage-signature")
    yield pytest.param(body, good | {"telnyx-timestamp": "12:00"}, 403, id="garbage-timestamp")


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_a_good_signature_within_the_window_verifies(skew: int) -> None:
    body = envelope("call.hangup", PAYLOAD | {"hangup_cause": "normal_clearing"})
    _verifier(now=NOW).verify(_request(body, signed_headers(body, now=NOW + skew)))


@pytest.mark.parametrize(("body", "headers", "status"), list(_bad_cases()))
def test_bad_signatures_fail_closed(body: bytes, headers: dict[str, str], status: int) -> None:
    with pytest.raises(WebhookRejected) as caught:
        _verifier(now=NOW).verify(_request(body, headers))
    assert caught.value.status == status


def test_no_public_key_fails_closed_at_start_unless_the_loud_switch_is_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(AdapterConfigError) as caught:
        create_carrier(telnyx_settings(publicKey=None), CarrierContext(public_url=URL))
    assert caught.value.path == "telnyx.publicKey" and "TELNYX_PUBLIC_KEY" in str(caught.value)
    carrier = create_carrier(
        telnyx_settings(publicKey=None), CarrierContext(public_url=URL, skip_signature_verification=True)
    )
    with caplog.at_level(logging.WARNING):
        carrier.verifier.verify(_request(b"{}"))
    assert "WITHOUT signature verification" in caplog.text


@pytest.mark.parametrize(
    "key",
    [
        "not base64 at all",
        base64.b64encode(b"\x01" * 31).decode(),  # a byte short
        base64.b64encode(
            X25519PrivateKey.generate()
            .public_key()
            .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        ).decode(),  # a real key, but not Ed25519
    ],
)
def test_a_public_key_that_is_not_ed25519_is_a_config_error_that_does_not_echo_it(key: str) -> None:
    with pytest.raises(AdapterConfigError) as caught:
        TelnyxWebhooks(key)
    assert caught.value.path == "telnyx.publicKey" and key not in str(caught.value)


# ---------------------------------------------------------------- parsing every documented event


def _parse(event_type: str, payload: dict[str, Any], **kwargs: Any) -> Any:
    return _verifier().parse(_request(envelope(event_type, payload, **kwargs)))


def test_incoming_call_initiated_is_a_call_that_expects_an_answer() -> None:
    event = _verifier().parse(_request(VECTOR_BODY))
    assert isinstance(event, CallStarted) and event.expects_reply and event.direction == "inbound"
    assert (
        event.provider_call_id == CONTROL_ID
        and event.event_id == "telnyx:0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"
    )
    assert event.from_number == "+35319605860" and event.to_number == "+35319605860"
    assert event.call_id is None  # the example's client_state is not ours: no identity


def test_a_retry_changes_meta_but_keeps_the_event_id() -> None:
    first = _parse("call.answered", PAYLOAD, event_id="e-1", attempt=1)
    retry = _parse("call.answered", PAYLOAD, event_id="e-1", attempt=2)
    assert first == retry and first.event_id == "telnyx:e-1"


def test_outgoing_call_initiated_only_binds_the_call() -> None:
    state = CallIdentity(call_id="c1", kind="answer").client_state()
    event = _parse(
        "call.initiated", PAYLOAD | {"direction": "outgoing", "state": "bridging", "client_state": state}
    )
    assert isinstance(event, CallInitiated) and event.call_id == "c1" and not event.expects_reply


def test_our_outbound_call_answered_is_where_the_engine_greets() -> None:
    state = CallIdentity(call_id="c1", kind="answer").client_state()
    event = _parse("call.answered", PAYLOAD | {"client_state": state, "from": "+18005551212", "to": "+1415"})
    assert isinstance(event, CallStarted) and event.expects_reply and event.direction == "outbound"
    assert event.call_id == "c1" and event.from_number == "+18005551212" and event.to_number == "+1415"


def test_an_inbound_call_answered_after_our_answer_command_is_only_a_status() -> None:
    event = _parse("call.answered", PAYLOAD | {"client_state": STATE, "state": "answered"})
    assert isinstance(event, CallAnswered) and event.call_id == "c1" and not event.expects_reply


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("normal_clearing", "completed"),
        ("originator_cancel", "completed"),
        ("call_rejected", "failed"),
        ("user_busy", "busy"),
        ("no_answer", "no-answer"),
        ("timeout", "no-answer"),
        ("time_limit", "timeout"),
        ("not_found", "failed"),
        ("unspecified", "completed"),
        ("something_new", "completed"),
    ],
)
def test_hangup_causes_map_to_end_reasons(cause: str, reason: str) -> None:
    body = PAYLOAD | {
        "hangup_cause": cause,
        "hangup_source": "caller",
        "sip_hangup_cause": "603",
        "state": "hangup",
    }
    event = _parse("call.hangup", body | {"client_state": STATE})
    assert isinstance(event, CallEnded) and event.reason == reason and event.call_id == "c1"


def test_the_documented_transcription_is_read_from_transcription_data() -> None:
    payload = {
        "call_control_id": "v2:7subYr8fLrXmaAXm8egeAMpoSJ72J3SGPUuome81-hQuaKRf9b7hKA",
        "call_leg_id": "5ca81340-5beb-11eb-ae45-02420a0f8b69",
        "call_session_id": "5ca81eee-5beb-11eb-ba6c-02420a0f8b69",
        "connection_id": "1240401930086254526",
        "transcription_data": {
            "confidence": 0.977219,
            "is_final": True,
            "transcript": "hello this is a test speech",
        },
    }
    event = _parse("call.transcription", payload)
    assert isinstance(event, UserInput) and event.final and event.expects_reply
    assert event.speech == "hello this is a test speech" and event.confidence == 0.977219


def test_a_partial_transcription_asks_for_nothing_and_silence_or_our_own_voice_is_not_for_us() -> None:
    partial = _parse(
        "call.transcription", PAYLOAD | {"transcription_data": {"transcript": "hel", "is_final": False}}
    )
    assert isinstance(partial, UserInput) and not partial.final and not partial.expects_reply
    empty = {"transcription_data": {"transcript": " ", "is_final": True}}
    assert _parse("call.transcription", PAYLOAD | empty) is None
    ours = {
        "transcription_data": {"transcript": "hello", "is_final": True, "transcription_track": "outbound"}
    }
    assert _parse("call.transcription", PAYLOAD | ours) is None
    assert _parse("call.transcription", PAYLOAD | {"transcription": "the wrong field"}) is None


def test_gather_turn_identity_comes_back_from_client_state() -> None:
    state = CallIdentity(call_id="c1", kind="gather", turn=3).client_state()
    data = {"transcript": "yes", "is_final": True, "confidence": 0.5}
    event = _parse("call.transcription", PAYLOAD | {"client_state": state, "transcription_data": data})
    assert isinstance(event, UserInput) and (event.call_id, event.turn) == ("c1", 3)


def test_keys_and_gathers_are_the_callers_input() -> None:
    dtmf = _parse("call.dtmf.received", PAYLOAD | {"digit": "#"})
    assert isinstance(dtmf, UserInput) and dtmf.digits == "#" and dtmf.expects_reply
    gathered = _parse("call.gather.ended", PAYLOAD | {"digits": "123", "status": "valid"})
    assert isinstance(gathered, UserInput) and gathered.digits == "123"
    # A gather that heard nothing: silence is timed by the engine (reports_silence=False).
    assert _parse("call.gather.ended", PAYLOAD | {"digits": "", "status": "timeout"}) is None


@pytest.mark.parametrize("event_type", ["call.speak.ended", "call.playback.ended"])
def test_speech_or_audio_that_played_to_the_end_is_playback_finished(event_type: str) -> None:
    event = _parse(event_type, PAYLOAD | {"status": "completed", "client_state": STATE, "media_name": "x"})
    assert isinstance(event, PlaybackFinished) and event.call_id == "c1" and not event.expects_reply
    assert _parse(event_type, PAYLOAD | {"status": "call_hangup"}) is None


@pytest.mark.parametrize(
    ("result", "answered_by"),
    [("human", "human"), ("machine", "machine"), ("not_sure", "unknown"), ("human_business", "human")],
)
def test_machine_detection_tells_who_answered(result: str, answered_by: str) -> None:
    event = _parse("call.machine.detection.ended", PAYLOAD | {"result": result})
    assert isinstance(event, CallAnswered) and event.answered_by == answered_by


def test_the_documented_machine_detection_example_without_a_call_control_id_is_acknowledged() -> None:
    payload = {k: v for k, v in PAYLOAD.items() if k != "call_control_id"} | {"result": "human"}
    assert _parse("call.machine.detection.ended", payload) is None


def test_a_saved_recording_is_ready() -> None:
    urls = {"mp3": "http://example.com/recording.mp3", "wav": "http://example.com/recording.wav"}
    payload = PAYLOAD | {"channels": "single", "recording_urls": urls, "public_recording_urls": urls}
    event = _parse("call.recording.saved", payload)
    assert isinstance(event, RecordingReady) and event.url == "http://example.com/recording.mp3"


@pytest.mark.parametrize(
    ("event_type", "extra"),
    [
        ("call.speak.started", {}),
        ("call.playback.started", {"media_name": "x"}),
        ("streaming.started", {"stream_url": "wss://www.example.com/websocket"}),
        ("streaming.stopped", {"stream_url": "wss://www.example.com/websocket"}),
        (
            "streaming.failed",
            {"failure_reason": "connection_failed", "stream_id": "1edb", "stream_type": "websocket"},
        ),
        ("call.bridged", {}),
        ("call.machine.greeting.ended", {"result": "ended"}),
        ("call.something.new", {}),
    ],
)
def test_events_we_do_not_act_on_are_acknowledged(event_type: str, extra: dict[str, Any]) -> None:
    assert _parse(event_type, PAYLOAD | extra) is None


@pytest.mark.parametrize(
    "body", [b"not json", b"{}", b'{"data": {"event_type": "call.hangup"}}', b'{"data": []}']
)
def test_a_malformed_envelope_is_a_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        _verifier().parse(_request(body))
    assert caught.value.status == 400


# ---------------------------------------------------------------- commands over REST


def _api(router: respx.MockRouter, status: int = 200, json_body: Any = None) -> respx.Route:
    return router.post(url__regex=rf"^{API}/calls/.+/actions/\w+$").mock(
        return_value=httpx.Response(
            status, json=json_body if json_body is not None else {"data": {"result": "ok"}}
        )
    )


def _sent(route: respx.Route, *, ids: list[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Each command's name and body; ``command_id`` is moved to ``ids`` when given."""
    commands = []
    for call in route.calls:
        request = call.request
        assert request.method == "POST" and request.headers["authorization"] == f"Bearer {API_KEY}"
        prefix = f"/v2/calls/{CONTROL_ID}/actions/"
        assert request.url.path.startswith(prefix), request.url.path
        body = json.loads(request.content)
        if ids is not None:
            ids.append(body.pop("command_id"))
        commands.append((request.url.path.removeprefix(prefix), body))
    return commands


def _responder() -> TelnyxResponder:
    return TelnyxResponder(TelnyxApi(API_KEY))


def _started() -> CallStarted:
    return CallStarted(
        provider_call_id=CONTROL_ID,
        event_id="e",
        expects_reply=True,
        direction="inbound",
        from_number="a",
        to_number="b",
    )


async def test_an_inbound_call_is_answered_then_greeted_and_transcription_starts(
    no_network: respx.MockRouter,
) -> None:
    route = _api(no_network)
    turn = CallIdentity(call_id="c1", kind="gather", turn=1)
    gather = Gather(action_url=URL, callback=turn, prompt=(Say(text="Hello!", language="en-US"),))
    context = ReplyContext(call=CALL, event=_started(), must_answer=True)
    reply = await _responder().respond(context, [Answer(), gather])
    assert reply.status == 200 and reply.body == b""
    ids: list[str] = []
    assert _sent(route, ids=ids) == [
        ("answer", {"client_state": STATE}),
        (
            "speak",
            {
                "payload": "Hello!",
                "payload_type": "text",
                "voice": "female",
                "language": "en-US",
                "client_state": turn.client_state(),
            },
        ),
        (
            "transcription_start",
            {
                "transcription_engine": "Google",
                "transcription_tracks": "inbound",
                "client_state": turn.client_state(),
                "transcription_engine_config": {"transcription_engine": "Google", "language": "en"},
            },
        ),
    ]


async def test_a_retried_webhook_sends_the_same_command_ids_so_telnyx_ignores_repeats(
    no_network: respx.MockRouter,
) -> None:
    route = _api(no_network)
    gather = Gather(action_url=URL, prompt=(Say(text="Hello!"),))
    context = ReplyContext(call=CALL, event=_started(), must_answer=True)
    first: list[str] = []
    await _responder().respond(context, [Answer(), gather])
    _sent(route, ids=first)
    route.reset()
    retry: list[str] = []
    await _responder().respond(context, [Answer(), gather])
    _sent(route, ids=retry)
    assert first == retry and len(set(first)) == 3
    route.reset()
    other: list[str] = []
    event = UserInput(provider_call_id=CONTROL_ID, event_id="e2", speech="hi", expects_reply=True)
    await _responder().respond(ReplyContext(call=CALL, event=event), [Say(text="Hello!")])
    _sent(route, ids=other)
    assert not set(other) & set(first)
    route.reset()
    await _responder().respond(ReplyContext(call=CALL), [Say(text="Hello!")])  # no webhook: no id
    assert "command_id" not in json.loads(route.calls.last.request.content)


@pytest.mark.parametrize(
    ("engine", "language", "config"),
    [
        ("Google", "es-MX", {"transcription_engine": "Google", "language": "es"}),
        ("Telnyx", "de-DE", {"transcription_engine": "Telnyx", "language": "de"}),
        ("Deepgram", "en-US", None),  # its accepted codes are not pinned down: its default
    ],
)
async def test_transcription_language_is_what_the_engine_takes(
    no_network: respx.MockRouter, engine: str, language: str, config: dict[str, str] | None
) -> None:
    route = _api(no_network)
    responder = TelnyxResponder(TelnyxApi(API_KEY), transcription_engine=engine)
    gather = Gather(action_url=URL, language=language)
    await responder.respond(ReplyContext(call=CALL, event=_started()), [gather])
    ((name, body),) = _sent(route, ids=[])
    assert name == "transcription_start" and body["transcription_engine"] == engine
    assert body.get("transcription_engine_config") == config


async def test_later_gathers_only_speak_their_prompt_with_their_turn(no_network: respx.MockRouter) -> None:
    route = _api(no_network)
    turn = CallIdentity(call_id="c1", kind="gather", turn=2)
    prompt = (
        Say(text="It is noon.", voice="Telnyx.KokoroTTS.af"),
        Pause(seconds=1),
        Play(url="https://x/a.wav"),
    )
    event = UserInput(provider_call_id=CONTROL_ID, event_id="e2", speech="time?", expects_reply=True)
    await _responder().respond(
        ReplyContext(call=CALL, event=event), [Gather(action_url=URL, callback=turn, prompt=prompt)]
    )
    assert _sent(route, ids=[]) == [
        (
            "speak",
            {
                "payload": "It is noon.",
                "payload_type": "text",
                "voice": "Telnyx.KokoroTTS.af",
                "client_state": turn.client_state(),
            },
        ),
        ("playback_start", {"audio_url": "https://x/a.wav", "loop": 1, "client_state": turn.client_state()}),
    ]


async def test_a_goodbye_is_spoken_and_the_hang_up_waits_for_speak_ended(
    no_network: respx.MockRouter,
) -> None:
    route = _api(no_network)
    event = UserInput(provider_call_id=CONTROL_ID, event_id="e3", speech="bye", expects_reply=True)
    await _responder().respond(
        ReplyContext(call=CALL, event=event),
        [Say(text="Goodbye!", voice="alloy"), Hangup(after_playback=True)],
    )
    assert [(name, body.get("payload")) for name, body in _sent(route)] == [
        ("speak", "Goodbye!"),
        ("transcription_stop", None),  # words said over the goodbye must not cut it short
    ]
    assert _sent(route)[0][1]["voice"] == "female"  # a neutral voice Telnyx does not know


async def test_a_notify_message_starts_no_transcription_and_so_stops_none(
    no_network: respx.MockRouter,
) -> None:
    route = _api(no_network)
    await _responder().respond(
        ReplyContext(call=CALL, event=_started()), [Say(text="Shipped."), Hangup(after_playback=True)]
    )
    assert [name for name, _ in _sent(route)] == ["speak"]


async def test_transcription_stop_that_fails_does_not_fail_the_goodbye(no_network: respx.MockRouter) -> None:
    speak = no_network.post(f"{API}/calls/{CONTROL_ID}/actions/speak").mock(
        return_value=httpx.Response(200, json={"data": {"result": "ok"}})
    )
    no_network.post(f"{API}/calls/{CONTROL_ID}/actions/transcription_stop").mock(
        return_value=httpx.Response(422, json={"errors": [{"code": "90055", "title": "Not transcribing"}]})
    )
    await _responder().respond(ReplyContext(call=CALL), [Say(text="Bye."), Hangup(after_playback=True)])
    assert speak.called


@pytest.mark.parametrize(
    ("action", "command", "body"),
    [
        (Hangup(), "hangup", {}),
        (Hangup(after_playback=True), "hangup", {}),  # nothing was queued: hang up now
        (Reject(reason="rejected"), "reject", {"cause": "CALL_REJECTED"}),
        (Reject(reason="busy"), "reject", {"cause": "USER_BUSY"}),
        (
            Transfer(to="+18005550100", caller_id="+18005550101", timeout_seconds=20),
            "transfer",
            {"to": "+18005550100", "from": "+18005550101", "timeout_secs": 20},
        ),
        (
            Transfer(to="sip:agent@example.com"),
            "transfer",
            {"to": "sip:agent@example.com", "timeout_secs": 30},
        ),
        (
            Record(action_url=URL, max_length_seconds=60, play_beep=False),
            "record_start",
            {"format": "mp3", "channels": "single", "play_beep": False, "max_length": 60},
        ),
        (SendDigits(digits="1234w#"), "send_dtmf", {"digits": "1234w#"}),
        (
            Play(url="https://x/a.mp3", loop=0),
            "playback_start",
            {"audio_url": "https://x/a.mp3", "loop": "infinity"},
        ),
        (
            ConnectStream(
                url="wss://voice.example.com/voice/stream", parameters={"token": "t0k", "callId": "c1"}
            ),
            "streaming_start",
            {
                "stream_url": "wss://voice.example.com/voice/stream",
                "stream_track": "inbound_track",
                "stream_bidirectional_mode": "rtp",
                "stream_bidirectional_codec": "PCMU",
                "stream_bidirectional_sampling_rate": 8000,
                "custom_parameters": [{"name": "token", "value": "t0k"}, {"name": "callId", "value": "c1"}],
            },
        ),
    ],
)
async def test_each_action_is_its_documented_command(
    no_network: respx.MockRouter, action: Any, command: str, body: dict[str, Any]
) -> None:
    route = _api(no_network)
    await _responder().respond(ReplyContext(call=CALL), [action])
    assert _sent(route) == [(command, body | {"client_state": STATE})]


async def test_a_refused_call_is_rejected_without_being_answered(no_network: respx.MockRouter) -> None:
    route = _api(no_network)
    await _responder().respond(
        ReplyContext(call=CALL, event=_started(), must_answer=True), [Reject(reason="busy")]
    )
    assert [name for name, _ in _sent(route)] == ["reject"]


async def test_a_redirect_is_refused_clearly(no_network: respx.MockRouter) -> None:
    with pytest.raises(CallControlError, match="commands, not markup"):
        await _responder().respond(ReplyContext(call=CALL), [Redirect(url=URL)])


async def test_a_refused_command_is_a_clear_secret_free_error(no_network: respx.MockRouter) -> None:
    errors = {"errors": [{"code": "90015", "title": "Invalid voice", "detail": "speak to +14158675309"}]}
    _api(no_network, 422, errors)
    with pytest.raises(CallControlError) as caught:
        await _responder().respond(ReplyContext(call=CALL), [Say(text="Hi +14158675309")])
    message = str(caught.value)
    assert message == "Telnyx speak failed with HTTP 422 (error 90015: Invalid voice)"
    assert caught.value.status == 422 and caught.value.code == 90015 and API_KEY not in message


async def test_an_unreachable_api_is_a_clear_error(no_network: respx.MockRouter) -> None:
    no_network.post(url__startswith=API).mock(side_effect=httpx.ConnectError("boom"))
    with pytest.raises(CallControlError, match="cannot reach the Telnyx API \\(hangup\\): ConnectError"):
        await TelnyxCallControl(
            TelnyxApi(API_KEY), connection_id=CONNECTION_ID, retry=RetryPolicy(attempts=1)
        ).hangup(CALL)


async def test_hangup_is_idempotent_on_90018(no_network: respx.MockRouter) -> None:
    gone = {"errors": [{"code": "90018", "title": "Call has already ended"}]}
    route = _api(no_network, 422, gone)
    control = TelnyxCallControl(TelnyxApi(API_KEY), connection_id=CONNECTION_ID)
    await control.hangup(CALL)
    await control.hangup(CALL)
    assert _sent(route) == [("hangup", {"client_state": STATE})] * 2
    # 90018 is "already ended" only for hanging up: a speak on an ended call is an error.
    with pytest.raises(CallControlError, match="90018"):
        await _responder().respond(ReplyContext(call=CALL), [Say(text="Hello?")])
    await control.aclose()


async def test_redirect_is_refused_and_a_call_without_an_id_cannot_be_commanded() -> None:
    control = TelnyxCallControl(TelnyxApi(API_KEY), connection_id=CONNECTION_ID)
    with pytest.raises(CallControlError, match="cannot be redirected"):
        await control.redirect(CALL, URL)
    with pytest.raises(CallControlError, match="no Telnyx call_control_id"):
        await control.hangup(CallRef(call_id="c2"))


def _callbacks(**extra: Any) -> DialCallbacks:
    return DialCallbacks(
        answer_url=f"{URL}?callId=c1&kind=answer",
        status_url=f"{URL}?callId=c1&kind=status",
        identity=CallIdentity(call_id="c1", kind="answer"),
        **extra,
    )


async def test_place_call_dials_through_the_connection_with_our_identity(
    no_network: respx.MockRouter,
) -> None:
    route = no_network.post(f"{API}/calls").mock(
        return_value=httpx.Response(200, json={"data": {"call_control_id": "v3:new", "is_alive": False}})
    )
    control = TelnyxCallControl(TelnyxApi(API_KEY), connection_id=CONNECTION_ID)
    placed = await control.place_call(
        CALL, _callbacks(ring_timeout_seconds=25, time_limit_seconds=600, machine_detection=True)
    )
    assert placed.provider_call_id == "v3:new" and not placed.provisional
    body = json.loads(route.calls.last.request.content)
    assert body.pop("command_id") == str(uuid.uuid5(uuid.NAMESPACE_URL, "telephony-dial/c1"))
    assert body == {
        "connection_id": CONNECTION_ID,
        "to": "+14158675309",
        "from": "+18005551212",
        "webhook_url": f"{URL}?callId=c1&kind=status",
        "webhook_url_method": "POST",
        "client_state": CallIdentity(call_id="c1", kind="answer").client_state(),
        "timeout_secs": 25,
        "time_limit_secs": 600,
        "answering_machine_detection": "detect",
    }
    stream = ConnectStream(url="wss://voice.example.com/voice/stream", parameters={"token": "t"})
    await control.place_call(CALL, _callbacks(stream=stream, ring_timeout_seconds=1))
    body = json.loads(route.calls.last.request.content)
    assert body["timeout_secs"] == 5  # Telnyx's minimum
    assert body["stream_url"] == stream.url and body["stream_bidirectional_mode"] == "rtp"
    assert "answering_machine_detection" not in body and "time_limit_secs" not in body
    await control.aclose()


async def test_a_dial_answer_without_a_call_control_id_is_an_error(no_network: respx.MockRouter) -> None:
    no_network.post(f"{API}/calls").mock(return_value=httpx.Response(200, json={"data": {}}))
    control = TelnyxCallControl(TelnyxApi(API_KEY), connection_id=CONNECTION_ID)
    with pytest.raises(CallControlError, match="without a call_control_id"):
        await control.place_call(CALL, _callbacks())


async def test_base_url_replaces_scheme_and_host_of_every_request(no_network: respx.MockRouter) -> None:
    dial = no_network.post("http://127.0.0.2:9000/v2/calls").mock(
        return_value=httpx.Response(200, json={"data": {"call_control_id": "v3:x"}})
    )
    hangup = no_network.post(f"http://127.0.0.2:9000/v2/calls/{CONTROL_ID}/actions/hangup").mock(
        return_value=httpx.Response(200, json={"data": {"result": "ok"}})
    )
    carrier = create_carrier(
        telnyx_settings(baseUrl="http://127.0.0.2:9000/"), CarrierContext(public_url=URL)
    )
    await carrier.control.place_call(CALL, _callbacks())
    await carrier.control.hangup(CALL)
    assert dial.called and hangup.called
    await carrier.control.aclose()


# ---------------------------------------------------------------- media streaming

START = {
    "event": "start",
    "sequence_number": "1",
    "stream_id": "32DE0DEA-53CB-4B21-89A4-9E1819C043BC",
    "start": {
        "user_id": "3E6F995F-85F7-4705-9741-53B116D28237",
        "call_control_id": "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ",
        "call_session_id": "ff55a038-6f5d-11ef-9692-02420aeffb1f",
        "from": "+13122010094",
        "to": "+13122123456",
        "tags": ["TAG1", "TAG2"],
        "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
        "custom_parameters": {"customer_id": "customer_123"},
        "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
    },
}


def _start(encoding: str = "PCMU", parameters: Any = None, rate: Any = 8000) -> str:
    start = dict(START["start"])  # type: ignore[arg-type]
    start["media_format"] = {"encoding": encoding, "sample_rate": rate, "channels": 1}
    if parameters is not None:
        start["custom_parameters"] = parameters
    return json.dumps(START | {"start": start})


def test_the_documented_start_frame_opens_a_pcmu_stream() -> None:
    started = TelnyxMediaCodec().decode(json.dumps(START))
    assert isinstance(started, StreamStarted)
    assert started.provider_call_id == START["start"]["call_control_id"]  # type: ignore[index]
    assert started.stream_id == "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
    assert started.audio_format == AudioFormat("mulaw", 8000) and started.playback_format == AudioFormat(
        "mulaw", 8000
    )
    assert started.parameters == {"customer_id": "customer_123"}


@pytest.mark.parametrize(
    "parameters",
    [
        {"token": "t0k", "callId": "c1"},
        [{"name": "token", "value": "t0k"}, {"name": "callId", "value": "c1"}],
    ],
)
def test_our_token_arrives_in_custom_parameters_in_either_spelling(parameters: Any) -> None:
    started = TelnyxMediaCodec().decode(_start(parameters=parameters))
    assert isinstance(started, StreamStarted) and started.parameters == {"token": "t0k", "callId": "c1"}


def test_each_stream_reads_the_format_its_start_frame_names() -> None:
    codec = TelnyxMediaCodec()
    pcmu, pcma = codec.decode(_start("PCMU")), codec.decode(_start("PCMA", rate="8000"))
    assert isinstance(pcmu, StreamStarted) and isinstance(pcma, StreamStarted)
    first, second = codec.session(pcmu), codec.session(pcma)
    assert first.started.audio_format.encoding == "mulaw"
    assert second.started.audio_format == AudioFormat("alaw", 8000)  # decoding it as mu-law is static
    assert second.started.playback_format == AudioFormat("mulaw", 8000)  # what streaming_start asked for
    with pytest.raises(MediaRejected, match="unsupported"):
        codec.decode(_start("OPUS"))


@pytest.mark.parametrize("encoding", ["PCMU", "PCMA"])
def test_media_round_trip_with_marks_and_clear(encoding: str) -> None:
    codec = TelnyxMediaCodec()
    started = codec.decode(_start(encoding))
    assert isinstance(started, StreamStarted)
    session = codec.session(started)
    audio = bytes(range(160))
    payload = base64.b64encode(audio).decode()
    for chunk, timestamp in (("2", "5"), (2, 5)):  # strings or numbers: both spellings documented
        frame = {
            "event": "media",
            "sequence_number": "4",
            "stream_id": started.stream_id,
            "media": {"track": "inbound", "chunk": chunk, "timestamp": timestamp, "payload": payload},
        }
        assert session.decode(json.dumps(frame)) == AudioReceived(payload=audio, timestamp_ms=5)
    outbound = {"event": "media", "media": {"track": "outbound", "payload": payload}}
    assert isinstance(session.decode(json.dumps(outbound)), Ignored)
    assert json.loads(session.encode(SendAudio(payload=audio))) == {
        "event": "media",
        "media": {"payload": payload},
    }
    assert json.loads(session.encode(SendMark(name="utterance-1"))) == {
        "event": "mark",
        "mark": {"name": "utterance-1"},
    }
    assert json.loads(session.encode(ClearAudio())) == {"event": "clear"}
    mark = {
        "event": "mark",
        "sequence_number": "7",
        "stream_id": started.stream_id,
        "mark": {"name": "utterance-1"},
    }
    assert session.decode(json.dumps(mark)) == MarkReached(name="utterance-1")
    dtmf = {"event": "dtmf", "sequence_number": "6", "stream_id": started.stream_id, "dtmf": {"digit": "1"}}
    assert session.decode(json.dumps(dtmf)) == DigitReceived(digit="1")
    stop = {
        "event": "stop",
        "sequence_number": "5",
        "stream_id": started.stream_id,
        "stop": {"user_id": "u", "call_control_id": started.provider_call_id},
    }
    assert session.decode(json.dumps(stop)) == StreamStopped()


def test_handshake_and_error_frames_carry_nothing() -> None:
    codec = TelnyxMediaCodec()
    assert codec.decode('{"event": "connected", "version": "1.0.0"}') == Ignored(event="connected")
    error = {"event": "error", "payload": {"code": 100002, "title": "Unknown Error"}, "stream_id": "s"}
    assert codec.decode(json.dumps(error)) == Ignored(event="error")


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        '{"event": "media", "media": {"payload": "***"}}',
        '{"event": "media"}',
        '{"event": "start", "start": {}}',
        '{"event": "teleport"}',
    ],
)
def test_malformed_frames_are_rejected(frame: str) -> None:
    with pytest.raises(MediaRejected):
        TelnyxMediaCodec().decode(frame)


# ---------------------------------------------------------------- settings


def test_missing_credentials_fail_at_start_naming_the_key() -> None:
    with pytest.raises(AdapterConfigError) as caught:
        TELNYX_SETTINGS.parse({"connectionId": CONNECTION_ID, "publicKey": PUBLIC_KEY})
    assert str(caught.value) == "telnyx.apiKey: required (or set TELNYX_API_KEY)"
    with pytest.raises(AdapterConfigError) as caught:
        TELNYX_SETTINGS.parse({"apiKey": API_KEY})
    assert "telnyx.connectionId" in str(caught.value) and "TELNYX_CONNECTION_ID" in str(caught.value)


def test_the_environment_fills_unset_keys_and_the_api_key_is_never_shown() -> None:
    environ = {
        "TELNYX_API_KEY": API_KEY,
        "TELNYX_CONNECTION_ID": CONNECTION_ID,
        "TELNYX_PUBLIC_KEY": PUBLIC_KEY,
    }
    settings = TELNYX_SETTINGS.parse(TELNYX_SETTINGS.with_environment({}, environ))
    assert (settings.api_key, settings.connection_id, settings.public_key) == (
        API_KEY,
        CONNECTION_ID,
        PUBLIC_KEY,
    )
    assert API_KEY not in repr(settings)


def test_the_core_config_builds_a_telnyx_carrier_from_the_environment() -> None:
    config = config_from_mapping(
        {"provider": "telnyx", "publicUrl": "https://voice.example.com"},
        env={
            "TELNYX_API_KEY": API_KEY,
            "TELNYX_CONNECTION_ID": CONNECTION_ID,
            "TELNYX_PUBLIC_KEY": PUBLIC_KEY,
        },
    )
    runtime = Runtime.build(config, store=MemoryCallStore())
    assert isinstance(runtime.carrier, TelnyxCarrier)
    assert runtime.carrier.capabilities.commands and not runtime.carrier.capabilities.reports_silence


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, 'telnyx.apiKey: required by provider "telnyx" (or set TELNYX_API_KEY)'),
        ({"TELNYX_API_KEY": API_KEY}, "telnyx.connectionId: required"),
        ({"TELNYX_API_KEY": API_KEY, "TELNYX_CONNECTION_ID": CONNECTION_ID}, "telnyx.publicKey: required"),
        (
            {"TELNYX_API_KEY": API_KEY, "TELNYX_CONNECTION_ID": CONNECTION_ID, "TELNYX_PUBLIC_KEY": "bad"},
            "telnyx.publicKey: not an Ed25519 public key",
        ),
    ],
)
def test_the_server_does_not_start_without_what_it_needs(env: dict[str, str], message: str) -> None:
    config = config_from_mapping({"provider": "telnyx", "publicUrl": "https://voice.example.com"}, env=env)
    with pytest.raises(ConfigError) as caught:
        Runtime.build(config, store=MemoryCallStore())
    assert str(caught.value).startswith(message) and API_KEY not in str(caught.value)


# ---------------------------------------------------------------- whole calls through the app

PUBLIC = "https://voice.example.com"
CALLER = "+14158675309"
OUR_NUMBER = "+18005551212"


def _app_config(**extra: Any) -> Any:
    data = {
        "provider": "telnyx",
        "fromNumber": OUR_NUMBER,
        "publicUrl": PUBLIC,
        "inboundPolicy": "open",
        "telnyx": telnyx_settings(),
    } | extra
    return config_from_mapping(data, env={})


class _Telnyx:
    """Posts signed events for one call and reads the commands the server sent for it."""

    def __init__(self, client: TestClient[Any], route: respx.Route, control_id: str) -> None:
        self.client = client
        self.route = route
        self.control_id = control_id
        self.state: str | None = None
        self.seen = 0

    def post(self, event_type: str, *, event_id: str | None = None, **fields: Any) -> Any:
        payload = {"call_control_id": self.control_id, "from": CALLER, "to": OUR_NUMBER} | fields
        if self.state:
            payload["client_state"] = self.state
        body = envelope(event_type, payload, event_id=event_id)
        response = self.client.post("/voice/webhook", content=body, headers=signed_headers(body))
        assert response.status_code == 200, response.text
        assert response.content == b"", "Telnyx gets no markup"
        return response

    def commands(self) -> list[tuple[str, dict[str, Any]]]:
        """Commands sent since the last look; client state follows them, as on Telnyx."""
        new = []
        for call in self.route.calls[self.seen :]:
            path = call.request.url.path
            assert path.startswith(f"/v2/calls/{self.control_id}/actions/"), path
            body = json.loads(call.request.content)
            self.state = body.get("client_state") or self.state
            new.append((path.rsplit("/", 1)[-1], body))
        self.seen = len(self.route.calls)
        return new

    def said(self) -> list[str]:
        return [body["payload"] for name, body in self.commands() if name == "speak"]


def _wait_for(predicate: Any) -> None:
    for _ in range(200):
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_an_inbound_conversation_through_the_app(no_network: respx.MockRouter) -> None:
    route = _api(no_network)
    config = _app_config()
    runtime = Runtime.build(config, store=MemoryCallStore())
    with TestClient(from_client(create_app(config, runtime=runtime), "127.0.0.1")) as client:
        telnyx = _Telnyx(client, route, CONTROL_ID)
        telnyx.post("call.initiated", event_id="init-1", direction="incoming", state="parked")
        first = telnyx.commands()
        assert [name for name, _ in first] == ["answer", "speak", "transcription_start"]
        assert first[1][1]["payload"] == "Hello! How can I help you today?"
        # A replayed (validly signed) copy of the same event changes nothing.
        telnyx.post("call.initiated", event_id="init-1", direction="incoming", state="parked")
        assert telnyx.commands() == []
        telnyx.post("call.answered", state="answered")
        telnyx.post("call.speak.started")
        telnyx.post("call.speak.ended", status="completed")
        assert telnyx.commands() == []
        data = {"transcript": "What time is it?", "is_final": True, "confidence": 0.9}
        telnyx.post("call.transcription", transcription_data=data)
        (reply,) = telnyx.said()
        assert reply.startswith("It's")
        telnyx.post("call.transcription", transcription_data={"transcript": "Goodb", "is_final": False})
        telnyx.post("call.transcription", transcription_data={"transcript": "Goodbye.", "is_final": True})
        goodbye = telnyx.commands()
        assert [name for name, _ in goodbye] == ["speak", "transcription_stop"], (
            "no hang-up before it is heard"
        )
        telnyx.post("call.speak.ended", status="completed")
        _wait_for(lambda: any(call.request.url.path.endswith("/hangup") for call in route.calls))
        assert [name for name, _ in telnyx.commands()] == ["hangup"]
        telnyx.post("call.hangup", hangup_cause="normal_clearing", hangup_source="callee")
        (call,) = client.get("/api/calls").json()
    assert call["state"] == "hangup-bot" and call["direction"] == "inbound" and call["turn_count"] == 2
    assert [turn["speaker"] for turn in call["transcript"]] == ["bot", "user", "bot", "user", "bot"]
    assert call["transcript"][3]["text"] == "Goodbye."


def test_an_unsigned_or_forged_webhook_changes_nothing(no_network: respx.MockRouter) -> None:
    route = _api(no_network)
    config = _app_config()
    runtime = Runtime.build(config, store=MemoryCallStore())
    body = envelope("call.initiated", PAYLOAD | {"direction": "incoming"})
    with TestClient(from_client(create_app(config, runtime=runtime), "127.0.0.1")) as client:
        assert (
            client.post(
                "/voice/webhook", content=body, headers={"content-type": "application/json"}
            ).status_code
            == 401
        )
        forged = signed_headers(body, key=Ed25519PrivateKey.generate())
        assert client.post("/voice/webhook", content=body, headers=forged).status_code == 403
        assert client.get("/api/calls").json() == []
    assert not route.called


def test_an_outbound_call_through_the_app(no_network: respx.MockRouter) -> None:
    route = _api(no_network)
    dial = no_network.post(f"{API}/calls").mock(
        return_value=httpx.Response(200, json={"data": {"call_control_id": CONTROL_ID}})
    )
    config = _app_config()
    runtime = Runtime.build(config, store=MemoryCallStore())
    with TestClient(from_client(create_app(config, runtime=runtime), "127.0.0.1")) as client:
        placed = client.post(
            "/api/calls", json={"to": CALLER, "message": "Hi, a test call.", "mode": "conversation"}
        )
        assert placed.status_code == 201, placed.text
        call_id = placed.json()["call_id"]
        body = json.loads(dial.calls.last.request.content)
        assert body["connection_id"] == CONNECTION_ID and body["to"] == CALLER and body["from"] == OUR_NUMBER
        assert CallIdentity.from_client_state(body["client_state"]) == CallIdentity(
            call_id=call_id, kind="answer"
        )
        telnyx = _Telnyx(client, route, CONTROL_ID)
        telnyx.state = body["client_state"]
        telnyx.post("call.initiated", direction="outgoing", state="bridging")
        assert telnyx.commands() == []
        telnyx.post("call.answered", state="answered")
        greeting = telnyx.commands()
        assert [name for name, _ in greeting] == ["speak", "transcription_start"]  # no answer command
        assert greeting[0][1]["payload"] == "Hi, a test call."
        telnyx.post("call.hangup", hangup_cause="normal_clearing", hangup_source="callee")
        call = client.get(f"/api/calls/{call_id}").json()
    assert call["state"] == "completed" and call["provider_call_id"] == CONTROL_ID


@pytest.mark.parametrize("encoding", ["PCMU", "PCMA"])
def test_a_stream_call_through_the_app(no_network: respx.MockRouter, encoding: str) -> None:
    route = _api(no_network)
    config = _app_config(streaming={"enabled": True})
    runtime = Runtime.build(config, store=MemoryCallStore())
    with TestClient(from_client(create_app(config, runtime=runtime), "127.0.0.1")) as client:
        telnyx = _Telnyx(client, route, CONTROL_ID)
        telnyx.post("call.initiated", direction="incoming", state="parked")
        (answer, stream) = telnyx.commands()
        assert answer[0] == "answer" and stream[0] == "streaming_start"
        parameters = {item["name"]: item["value"] for item in stream[1]["custom_parameters"]}
        assert set(parameters) == {"token", "callId"}
        credential = f"/{parameters['callId']}/{parameters['token']}"
        assert stream[1]["stream_url"] == "wss://voice.example.com/voice/stream" + credential
        start = json.loads(_start(encoding, parameters=parameters))
        start["start"]["call_control_id"] = CONTROL_ID
        with client.websocket_connect(urlsplit(stream[1]["stream_url"]).path) as ws:
            ws.send_text('{"event": "connected", "version": "1.0.0"}')
            ws.send_text(json.dumps(start))
            frames = []
            while not frames or frames[-1]["event"] != "mark":
                frames.append(json.loads(ws.receive_text()))
            ws.send_text(
                json.dumps({"event": "mark", "stream_id": start["stream_id"], "mark": frames[-1]["mark"]})
            )
            ws.send_text(json.dumps({"event": "stop", "stream_id": start["stream_id"], "stop": {}}))
        _wait_for(lambda: any(call.request.url.path.endswith("/hangup") for call in route.calls))
    media = [frame for frame in frames if frame["event"] == "media"]
    assert len(media) > 25, "a greeting is more than half a second of audio"
    assert all(set(frame) == {"event", "media"} and set(frame["media"]) == {"payload"} for frame in media)
    assert {len(base64.b64decode(frame["media"]["payload"])) for frame in media} == {160}  # 20 ms of PCMU


def test_keys_pressed_are_a_turn_and_a_restart_mid_call_loses_nothing(
    no_network: respx.MockRouter, tmp_path: Any
) -> None:
    route = _api(no_network)
    config = _app_config(store=str(tmp_path))

    def app() -> TestClient[Any]:
        return TestClient(from_client(create_app(config, runtime=Runtime.build(config)), "127.0.0.1"))

    with app() as client:
        telnyx = _Telnyx(client, route, CONTROL_ID)
        telnyx.post("call.initiated", direction="incoming", state="parked")
        assert [name for name, _ in telnyx.commands()] == ["answer", "speak", "transcription_start"]
    # A new process on the same store takes the caller's keys: the adapter kept nothing in memory.
    with app() as client:
        telnyx.client = client
        telnyx.post("call.dtmf.received", digit="5")
        (reply,) = telnyx.said()
        (call,) = client.get("/api/calls").json()
    assert CallIdentity.from_client_state(telnyx.state) == CallIdentity(
        call_id=call["call_id"], kind="gather", turn=2
    )
    assert [turn["text"] for turn in call["transcript"] if turn["speaker"] == "user"] == ["[keypad: 5]"]
    assert call["transcript"][-1]["text"] == reply
