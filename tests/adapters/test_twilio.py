"""The Twilio adapter alone: published signature vectors, TwiML, Media Streams frames, REST control."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
import respx

from telephony.adapters.twilio import TwilioCallControl, TwilioMediaCodec, TwilioWebhooks, render_twiml
from telephony.providers import (
    AudioReceived,
    CallAnswered,
    CallEnded,
    CallIdentity,
    CallRef,
    CallStarted,
    ClearAudio,
    ConnectStream,
    DialCallbacks,
    DigitReceived,
    Gather,
    Hangup,
    MarkReached,
    MediaRejected,
    NoInput,
    Pause,
    Play,
    Redirect,
    Reject,
    Say,
    SendAudio,
    SendMark,
    StreamStarted,
    StreamStopped,
    Transfer,
    UserInput,
    WebhookRejected,
    WebhookRequest,
)

# Published vectors from the twilio-python test suite (auth token 12345).
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}


def _form(
    url: str, body: str, signature: str | None, content_type: str = "application/x-www-form-urlencoded"
):
    headers = {"content-type": content_type}
    if signature is not None:
        headers["x-twilio-signature"] = signature
    return WebhookRequest(method="POST", url=url, headers=headers, body=body.encode())


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
    ],
)
def test_published_signature_vectors_verify(url: str, signature: str) -> None:
    TwilioWebhooks(TOKEN).verify(_form(url, urlencode(PARAMS), signature))


def test_published_vector_with_repeated_values() -> None:
    body = "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234"
    TwilioWebhooks(TOKEN).verify(_form(URL, body, "IK+Dwps556ElfBT0I3Rgjkr1wJU="))


def test_published_vector_with_json_body() -> None:
    sha = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    request = _form(
        f"{URL}&bodySHA256={sha}",
        '{"property": "value", "boolean": true}',
        "a9nBmqA0ju/hNViExpshrM61xv4=",
        "application/json",
    )
    TwilioWebhooks(TOKEN).verify(request)


@pytest.mark.parametrize(
    ("url", "body", "signature", "status"),
    [
        (URL, urlencode(PARAMS), None, 401),
        (URL, urlencode(PARAMS), "RSOYDt4T1cUTdK1PDd93/VVr8B8X", 403),
        (URL, urlencode(PARAMS | {"Digits": "9999"}), "RSOYDt4T1cUTdK1PDd93/VVr8B8=", 403),
        (URL.replace("foo=1", "foo=2"), urlencode(PARAMS), "RSOYDt4T1cUTdK1PDd93/VVr8B8=", 403),
    ],
    ids=["unsigned", "wrong-signature", "tampered-body", "tampered-url"],
)
def test_bad_signatures_fail_closed(url: str, body: str, signature: str | None, status: int) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        TwilioWebhooks(TOKEN).verify(_form(url, body, signature))
    assert rejected.value.status == status


def test_missing_auth_token_is_a_config_error() -> None:
    with pytest.raises(Exception, match="authToken"):
        TwilioWebhooks(None)


def _parse(params: dict[str, str], query: str = ""):
    url = "https://x.example/voice/webhook" + (f"?{query}" if query else "")
    return TwilioWebhooks(TOKEN).parse(_form(url, urlencode(params), None))


def test_parse_incoming_call_gather_status_and_amd() -> None:
    base = {"CallSid": "CA1", "From": "+14158675309", "To": "+18005551212"}
    started = _parse(base | {"CallStatus": "ringing", "Direction": "inbound"})
    assert isinstance(started, CallStarted) and started.expects_reply and started.direction == "inbound"
    speech = _parse(
        base | {"SpeechResult": "I need help with my bill.", "Confidence": "0.9124575"},
        "callId=abc&kind=gather",
    )
    assert isinstance(speech, UserInput) and speech.call_id == "abc"
    assert speech.speech == "I need help with my bill." and speech.confidence == pytest.approx(0.9124575)
    assert isinstance(_parse(base, "kind=gather"), NoInput)
    ended = _parse(base | {"CallStatus": "no-answer"}, "kind=status")
    assert isinstance(ended, CallEnded) and ended.reason == "no-answer"
    console = _parse(base | {"CallStatus": "completed", "CallbackSource": "call-progress-events"})
    assert isinstance(console, CallEnded) and not console.expects_reply
    amd = _parse({"CallSid": "CA1", "AnsweredBy": "machine_end_beep"}, "kind=amd")
    assert isinstance(amd, CallAnswered) and amd.answered_by == "machine"
    outbound = _parse(
        base | {"CallStatus": "in-progress", "Direction": "outbound-api"}, "kind=answer&callId=z"
    )
    assert isinstance(outbound, CallStarted) and outbound.direction == "outbound"


def test_parse_rejects_non_twilio_body() -> None:
    with pytest.raises(WebhookRejected) as rejected:
        _parse({"Hello": "world"})
    assert rejected.value.status == 400


def test_twiml_renders_every_action() -> None:
    document = render_twiml(
        [
            Gather(
                action_url="https://e.x/g?a=1&b=2",
                prompt=(Say(text="Say billing", voice="alloy"),),
                hints=("billing", "support"),
                num_digits=1,
            ),
            Say(text="Bye"),
            Play(url="https://e.x/a.wav"),
            Pause(seconds=2),
            Redirect(url="https://e.x/next"),
            Transfer(to="+14155550100", caller_id="+15005550006", timeout_seconds=20),
            Hangup(),
        ]
    )
    assert document.startswith(
        '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="https://e.x/g?a=1&amp;b=2"'
    )
    assert 'hints="billing, support"' in document and 'numDigits="1"' in document
    assert '<Say voice="Polly.Joanna">Say billing</Say></Gather>' in document
    assert '<Pause length="2" /><Redirect method="POST">https://e.x/next</Redirect>' in document
    assert (
        '<Dial callerId="+15005550006" timeout="20"><Number>+14155550100</Number></Dial><Hangup /></Response>'
        in document
    )


def test_twiml_stream_and_reject_match_the_sdk_reference_output() -> None:
    stream = render_twiml([ConnectStream(url="wss://example.com/media", parameters={"callId": "abc123"})])
    assert stream == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://example.com/media">'
        '<Parameter name="callId" value="abc123" /></Stream></Connect></Response>'
    )
    assert render_twiml([Reject(reason="busy")]).endswith('<Response><Reject reason="busy" /></Response>')


def test_media_codec_decodes_the_documented_frames() -> None:
    codec = TwilioMediaCodec()
    start = codec.decode(
        json.dumps(
            {
                "event": "start",
                "sequenceNumber": "1",
                "streamSid": "MZ1",
                "start": {
                    "accountSid": "AC1",
                    "streamSid": "MZ1",
                    "callSid": "CA1",
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": {"FirstName": "Jane"},
                },
            }
        )
    )
    assert start == StreamStarted(provider_call_id="CA1", stream_id="MZ1", parameters={"FirstName": "Jane"})
    silence = "/" * 213 + "w=="  # the reference's 20 ms of mu-law silence
    media = codec.decode(
        json.dumps(
            {
                "event": "media",
                "sequenceNumber": "4",
                "streamSid": "MZ1",
                "media": {"track": "inbound", "chunk": "2", "timestamp": "5", "payload": silence},
            }
        )
    )
    assert media == AudioReceived(payload=b"\xff" * 160, timestamp_ms=5)
    dtmf = codec.decode(
        '{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}'
    )
    assert dtmf == DigitReceived(digit="1")
    assert codec.decode(
        '{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"my label"}}'
    ) == MarkReached(name="my label")
    assert isinstance(
        codec.decode('{"event":"stop","sequenceNumber":"5","streamSid":"MZ1","stop":{}}'), StreamStopped
    )
    with pytest.raises(MediaRejected):
        codec.decode('{"event":"media","media":{"payload":"***"}}')
    with pytest.raises(MediaRejected):
        codec.decode("not json")


def test_media_codec_encodes_media_mark_clear() -> None:
    codec = TwilioMediaCodec()
    assert json.loads(codec.encode(SendAudio(payload=b"\xff" * 160), "MZ1")) == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": base64.b64encode(b"\xff" * 160).decode()},
    }
    assert json.loads(codec.encode(SendMark(name="u1"), "MZ1")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "u1"},
    }
    assert json.loads(codec.encode(ClearAudio(), "MZ1")) == {"event": "clear", "streamSid": "MZ1"}


API = "https://api.twilio.com/2010-04-01/Accounts/AC123/Calls"


@respx.mock(assert_all_mocked=True)
async def test_place_call_posts_to_the_calls_resource(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}.json").mock(
        return_value=httpx.Response(201, json={"sid": "CA42", "status": "queued"})
    )
    control = TwilioCallControl(account_sid="AC123", auth_token="tok")
    call = CallRef(call_id="c1", from_number="+15005550006", to_number="+14155550100")
    callbacks = DialCallbacks(
        answer_url="https://e.x/hook?kind=answer",
        status_url="https://e.x/hook?kind=status",
        identity=CallIdentity(call_id="c1", kind="answer"),
        ring_timeout_seconds=25,
        time_limit_seconds=300,
    )
    placed = await control.place_call(call, callbacks)
    await control.aclose()
    assert placed.provider_call_id == "CA42"
    form = parse_qs(route.calls.last.request.content.decode())
    assert form["To"] == ["+14155550100"] and form["Url"] == ["https://e.x/hook?kind=answer"]
    assert form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert form["From"] == ["+15005550006"] and form["Timeout"] == ["25"] and form["TimeLimit"] == ["300"]
    assert route.calls.last.request.headers["authorization"].startswith("Basic ")


@respx.mock(assert_all_mocked=True)
async def test_hangup_is_idempotent_on_20404(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{API}/CA42.json").mock(
        return_value=httpx.Response(404, json={"code": 20404, "message": "not found", "status": 404})
    )
    control = TwilioCallControl(account_sid="AC123", auth_token="tok")
    await control.hangup(CallRef(call_id="c1", provider_call_id="CA42"))
    await control.aclose()


@respx.mock(assert_all_mocked=True)
async def test_redirect_points_the_live_call_at_new_instructions_and_errors_are_clear(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(f"{API}/CA42.json").mock(
        side_effect=[
            httpx.Response(200, json={"sid": "CA42", "status": "in-progress"}),
            httpx.Response(400, json={"code": 21220, "message": "Call is not in-progress", "status": 400}),
        ]
    )
    control = TwilioCallControl(account_sid="AC123", auth_token="tok")
    call = CallRef(call_id="c1", provider_call_id="CA42")
    await control.redirect(call, "https://e.x/hook?callId=c1&kind=pending")
    form = parse_qs(route.calls.last.request.content.decode())
    assert form["Url"] == ["https://e.x/hook?callId=c1&kind=pending"] and form["Method"] == ["POST"]
    from telephony.providers import CallControlError

    with pytest.raises(CallControlError, match="not in-progress") as failed:
        await control.redirect(call, "https://e.x/hook?callId=c1&kind=pending")
    assert failed.value.code == 21220
    await control.aclose()


@respx.mock(assert_all_mocked=True)
async def test_base_url_points_the_sdk_elsewhere(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post("https://edge.example.net/2010-04-01/Accounts/AC123/Calls/CA42.json").mock(
        return_value=httpx.Response(200, json={"sid": "CA42", "status": "completed"})
    )
    control = TwilioCallControl(account_sid="AC123", auth_token="tok", base_url="https://edge.example.net")
    await control.hangup(CallRef(call_id="c1", provider_call_id="CA42"))
    await control.aclose()
    assert route.called


async def test_network_failure_is_a_clear_call_control_error(no_network: respx.MockRouter) -> None:
    no_network.post(f"{API}/CA42.json").mock(side_effect=httpx.ConnectError("refused"))
    from telephony.providers import CallControlError, RetryPolicy

    control = TwilioCallControl(account_sid="AC123", auth_token="tok", retry=RetryPolicy(attempts=1))

    with pytest.raises(CallControlError, match="cannot reach the Twilio API"):
        await control.hangup(CallRef(call_id="c1", provider_call_id="CA42"))
    await control.aclose()


def _start_frame(encoding: str, rate: int = 8000, stream: str = "MZ1") -> str:
    start = {"streamSid": stream, "callSid": "CA1", "mediaFormat": {"encoding": encoding, "sampleRate": rate}}
    return json.dumps({"event": "start", "streamSid": stream, "start": start})


def test_each_stream_gets_a_session_in_the_format_its_start_frame_names() -> None:
    codec = TwilioMediaCodec()
    mulaw = codec.decode(_start_frame("audio/x-mulaw", stream="MZ1"))
    alaw = codec.decode(_start_frame("audio/x-alaw", stream="MZ2"))
    assert isinstance(mulaw, StreamStarted) and isinstance(alaw, StreamStarted)
    one, two = codec.session(mulaw), codec.session(alaw)
    assert one.started.playback_format.encoding == "mulaw"
    assert two.started.playback_format.encoding == "alaw"
    assert json.loads(two.encode(SendMark(name="m1")))["streamSid"] == "MZ2"
    with pytest.raises(MediaRejected, match="unsupported stream audio encoding"):
        codec.decode(_start_frame("audio/ogg"))


def test_a_media_frame_with_a_bad_timestamp_keeps_its_audio() -> None:
    frame = {"event": "media", "streamSid": "MZ1", "media": {"timestamp": "soon", "payload": "//8="}}
    assert TwilioMediaCodec().decode(json.dumps(frame)) == AudioReceived(payload=b"\xff\xff")
