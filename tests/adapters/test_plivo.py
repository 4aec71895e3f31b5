"""The Plivo adapter: published V3 vectors, Plivo XML, audio-stream frames, REST control, the real app."""

from __future__ import annotations

import base64
import json
import math
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

import httpx
import pytest
import respx
from plivo.utils.signature_v3 import validate_v3_signature
from plivo_helpers import (
    AUTH_ID,
    AUTH_TOKEN,
    CALL_UUID,
    CALLER,
    CALLS,
    OUR_NUMBER,
    WEBHOOK_URL,
    plivo_app,
    plivo_config,
    post_signed,
    sign,
    start_app,
)

from telephony.adapters.plivo import (
    PLIVO_SETTINGS,
    PlivoCallControl,
    PlivoMediaCodec,
    PlivoWebhooks,
    create_carrier,
    load_signer,
    render_plivo_xml,
)
from telephony.providers import (
    AdapterConfigError,
    AudioReceived,
    CallAnswered,
    CallControlError,
    CallEnded,
    CallIdentity,
    CallRef,
    CallRinging,
    CallStarted,
    CarrierContext,
    ClearAudio,
    ConnectStream,
    DialCallbacks,
    DigitReceived,
    Gather,
    Hangup,
    Ignored,
    InstructionsRequested,
    MarkReached,
    MediaRejected,
    NoInput,
    Pause,
    Play,
    Record,
    RecordingReady,
    Redirect,
    Reject,
    RetryPolicy,
    Say,
    SendAudio,
    SendDigits,
    SendMark,
    StreamStarted,
    StreamStopped,
    SynthesizedAudio,
    Transfer,
    UserInput,
    WebhookRejected,
    WebhookRequest,
)
from telephony.store import SqliteCallStore

# ---------------------------------------------------------------- V3 signatures

# Published vectors (plivo-go TestValidateSignatureV3Pass1..4, plivo-ruby signature_spec.rb).
VECTOR_TOKEN = "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4"
VECTOR_NONCE = "31627761595286130198"
VECTOR_URI = "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml"
VECTOR_PARAMS = {
    "ALegRequestUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "ALegUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "BillRate": "0.002",
    "CallStatus": "in-progress",
    "CallUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "Direction": "outbound",
    "Event": "StartApp",
    "From": "19792014278",
    "ParentAuthID": "MANWVLYTK4ZWU1YTY4QA",
    "RequestUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36",
    "SIP-H-To": "<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1",
    "SessionStart": "2020-04-08 11:34:33.238707",
    "To": "sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com",
}
PUBLISHED = [
    ("POST", f"{VECTOR_URI}/?a=b&c=d", "k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c="),
    ("GET", f"{VECTOR_URI}/?a=b&c=d", "UBq8jAtd32wR8EK9VgxbBn4n5rpI/l1H9iN4WfSEHFQ="),
    ("POST", VECTOR_URI, "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0="),
    ("GET", VECTOR_URI, "i/MQsaQSAd6fiKhOh2qeeeLHZ9faldADSb3/7+Akfbc="),
]


def _request(
    method: str,
    url: str,
    params: dict[str, str],
    signature: str | None,
    nonce: str | None,
    **headers: str,
) -> WebhookRequest:
    """A webhook as Plivo sends it: POST parameters in a form body, GET parameters in the query."""
    all_headers = {"content-type": "application/x-www-form-urlencoded"} | headers
    if signature is not None:
        all_headers["x-plivo-signature-v3"] = signature
    if nonce is not None:
        all_headers["x-plivo-signature-v3-nonce"] = nonce
    if method == "GET":
        joiner = "&" if urlsplit(url).query else "?"
        url = url + (joiner + urlencode(params) if params else "")
        return WebhookRequest(method="GET", url=url, headers=all_headers)
    return WebhookRequest(method="POST", url=url, headers=all_headers, body=urlencode(params).encode())


@pytest.mark.parametrize(("method", "uri", "signature"), PUBLISHED)
def test_published_vectors_verify(method: str, uri: str, signature: str) -> None:
    request = _request(method, uri, VECTOR_PARAMS, signature, VECTOR_NONCE)
    PlivoWebhooks(VECTOR_TOKEN).verify(request)
    # The SDK's own validator agrees on the same inputs.
    params = dict(VECTOR_PARAMS) if method == "POST" else {}
    assert validate_v3_signature(method, request.url, VECTOR_NONCE, VECTOR_TOKEN, signature, params)


@pytest.mark.parametrize(("method", "uri", "signature"), PUBLISHED)
def test_published_vectors_fail_with_another_token(method: str, uri: str, signature: str) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        PlivoWebhooks(VECTOR_TOKEN + "x").verify(
            _request(method, uri, VECTOR_PARAMS, signature, VECTOR_NONCE)
        )
    assert rejected.value.status == 403


# Extra vectors from the protocol reference (computed with the SDK's functions).
LOCAL = [
    ("https://example.com/answer", {}, "hUGnvMRbVNkLGwkev8Z7p3Lr7/ipDR37ScJFh0N7IyU="),
    (
        "https://example.com/answer",
        {"CallUUID": "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36", "From": "14155550100", "To": "14155550199"}
        | {"Digits": "1234"},
        "bjn47l0QpRnqkFXeRV0R4Ad05gMUQk3ERs+VFvBs04E=",
    ),
    ("https://example.com/answer?x=1", {}, "hwFYYmTCX+6MaNNuaPdTbUbXZn6qf5VLmjVH10l2a7g="),
]


@pytest.mark.parametrize(("uri", "params", "signature"), LOCAL)
def test_reference_vectors_verify(uri: str, params: dict[str, str], signature: str) -> None:
    PlivoWebhooks("my_auth_token").verify(_request("POST", uri, params, signature, "12345678901234567890"))


def test_the_question_mark_versus_dot_rule() -> None:
    signer = load_signer()
    params = {"Digits": ["1234"], "CallUUID": ["c1"]}
    # No query string: the sorted parameters follow "?", not ".".
    assert (
        signer.signed_string("POST", "https://h.example/a", params)
        == "https://h.example/a?CallUUIDc1Digits1234"
    )
    # A query string: sorted and decoded query, then ".", then the parameters.
    assert (
        signer.signed_string("POST", "https://h.example/a?z=2&kind=gather%20x", params)
        == "https://h.example/a?kind=gather x&z=2.CallUUIDc1Digits1234"
    )
    # A query string and no parameters: the query alone.
    assert signer.signed_string("POST", "https://h.example/a?z=2", {}) == "https://h.example/a?z=2"
    # The published message 3 (POST without a query string) is built exactly.
    message = signer.signed_string("POST", VECTOR_URI, {k: [v] for k, v in VECTOR_PARAMS.items()})
    assert message.startswith(VECTOR_URI + "?ALegRequestUUID3e82ae9d") and "SIP-H-To<sip:" in message


def test_an_implementation_that_always_uses_a_dot_would_be_refused() -> None:
    import hashlib
    import hmac

    uri, params, _ = LOCAL[1]
    wrong = uri + "." + "".join(k + v for k, v in sorted(params.items())) + ".12345678901234567890"
    forged = base64.b64encode(hmac.new(b"my_auth_token", wrong.encode(), hashlib.sha256).digest()).decode()
    with pytest.raises(WebhookRejected):
        PlivoWebhooks("my_auth_token").verify(_request("POST", uri, params, forged, "12345678901234567890"))


@pytest.mark.parametrize("header", ["{bad},{good}", "{good},{bad}", "{bad}, {good}", "{good}"])
def test_several_comma_separated_signatures(header: str) -> None:
    uri, params, good = LOCAL[1]
    value = header.format(good=good, bad="AAAA" + good[4:])
    PlivoWebhooks("my_auth_token").verify(_request("POST", uri, params, value, "12345678901234567890"))


def test_the_main_account_signature_header_is_accepted() -> None:
    uri, params, good = LOCAL[1]
    request = _request(
        "POST", uri, params, "AAAA" + good[4:], "12345678901234567890", **{"x-plivo-signature-ma-v3": good}
    )
    PlivoWebhooks("my_auth_token").verify(request)


def test_the_sdk_signing_helper_and_the_verifier_agree() -> None:
    url = WEBHOOK_URL + "?callId=c1&kind=gather&turn=2"
    params = start_app() | {"Speech": "hello there", "InputType": "speech"}
    signature = sign("POST", url, params, "987")
    PlivoWebhooks(AUTH_TOKEN).verify(_request("POST", url, params, signature, "987"))


URL = WEBHOOK_URL + "?callId=c1&kind=gather&turn=1"
PARAMS = start_app() | {"Speech": "yes", "InputType": "speech"}
NONCE = "55512345678901234567"
GOOD = sign("POST", URL, PARAMS, NONCE)


@pytest.mark.parametrize(
    ("url", "params", "signature", "nonce", "status"),
    [
        (URL, PARAMS, None, NONCE, 401),
        (URL, PARAMS, GOOD, None, 401),
        (URL, PARAMS, "AAAA" + GOOD[4:], NONCE, 403),
        (URL, PARAMS | {"Speech": "no"}, GOOD, NONCE, 403),
        (URL, PARAMS | {"Extra": "1"}, GOOD, NONCE, 403),
        (URL.replace("turn=1", "turn=2"), PARAMS, GOOD, NONCE, 403),
        (URL.replace("callId=c1", "callId=c2"), PARAMS, GOOD, NONCE, 403),
        (URL, PARAMS, GOOD, "55512345678901234568", 403),
        (URL, PARAMS, sign("POST", URL, PARAMS, NONCE, "another-token"), NONCE, 403),
    ],
    ids=[
        "unsigned",
        "no-nonce",
        "wrong-signature",
        "tampered-body",
        "added-parameter",
        "tampered-turn",
        "tampered-call",
        "replayed-with-new-nonce",
        "other-account",
    ],
)
def test_bad_signatures_fail_closed(
    url: str, params: dict[str, str], signature: str | None, nonce: str | None, status: int
) -> None:
    with pytest.raises(WebhookRejected) as rejected:
        PlivoWebhooks(AUTH_TOKEN).verify(_request("POST", url, params, signature, nonce))
    assert rejected.value.status == status


def test_a_signature_replayed_onto_another_request_fails() -> None:
    other = start_app("11111111-2222-3333-4444-555555555555")
    with pytest.raises(WebhookRejected):
        PlivoWebhooks(AUTH_TOKEN).verify(_request("POST", WEBHOOK_URL, other, GOOD, NONCE))


def test_a_missing_auth_token_is_a_config_error() -> None:
    with pytest.raises(AdapterConfigError, match=r"plivo\.authToken"):
        PlivoWebhooks(None)


def test_the_skip_switch_is_loud(caplog: pytest.LogCaptureFixture) -> None:
    PlivoWebhooks(None, skip_verification=True).verify(_request("POST", URL, PARAMS, None, None))
    assert "WITHOUT signature verification" in caplog.text


# ---------------------------------------------------------------- parsing


def _parse(params: dict[str, str], query: str = "") -> Any:
    url = WEBHOOK_URL + (f"?{query}" if query else "")
    return PlivoWebhooks(AUTH_TOKEN).parse(_request("POST", url, params, None, None))


def test_an_inbound_answer_request_starts_a_call() -> None:
    event = _parse(start_app())
    assert isinstance(event, CallStarted) and event.expects_reply
    assert (event.provider_call_id, event.direction) == (CALL_UUID, "inbound")
    assert (event.from_number, event.to_number, event.call_id) == (CALLER, OUR_NUMBER, None)


def test_the_documented_outbound_answer_request_carries_our_identity() -> None:
    event = _parse(VECTOR_PARAMS, "callId=c9&kind=answer")
    assert isinstance(event, CallStarted) and event.direction == "outbound" and event.call_id == "c9"
    assert event.provider_call_id == VECTOR_PARAMS["CallUUID"]


HANGUP = {
    "ALegRequestUUID": "9834029e-58b6-11e1-b8b7-a5bd0e4e126f",
    "ALegUUID": CALL_UUID,
    "AnswerTime": "2026-01-15 10:30:05",
    "BillDuration": "60",
    "CallStatus": "completed",
    "CallUUID": CALL_UUID,
    "Direction": "outbound",
    "Duration": "42",
    "EndTime": "2026-01-15 10:30:47",
    "Event": "Hangup",
    "From": "14155550101",
    "HangupCause": "NORMAL_CLEARING",
    "RequestUUID": "9834029e-58b6-11e1-b8b7-a5bd0e4e126f",
    "StartTime": "2026-01-15 10:29:58",
    "To": "14155550100",
    "TotalCost": "0.00500",
}


@pytest.mark.parametrize(
    ("status", "cause", "reason"),
    [
        ("completed", "NORMAL_CLEARING", "completed"),
        ("busy", "USER_BUSY", "busy"),
        ("completed", "USER_BUSY", "busy"),
        ("no-answer", "NO_ANSWER", "no-answer"),
        ("timeout", "NO_ANSWER", "no-answer"),
        ("failed", "UNALLOCATED_NUMBER", "failed"),
        ("failed", "NETWORK_OUT_OF_ORDER", "failed"),
        ("completed", "CALL_REJECTED", "busy"),
        ("cancel", "ORIGINATOR_CANCEL", "hangup-bot"),
        ("completed", "SOMETHING_NEW", "completed"),
    ],
)
def test_hangup_causes_map_to_end_reasons(status: str, cause: str, reason: str) -> None:
    event = _parse(HANGUP | {"CallStatus": status, "HangupCause": cause}, "callId=c1&kind=status")
    assert isinstance(event, CallEnded) and not event.expects_reply
    assert (event.reason, event.duration_seconds, event.call_id) == (reason, 42.0, "c1")


def test_gather_results_speech_and_digits() -> None:
    speech = _parse(
        start_app()
        | {"InputType": "speech", "Speech": "I need help with my bill", "SpeechConfidenceScore": "0.91"},
        "callId=c1&kind=gather&turn=3",
    )
    assert isinstance(speech, UserInput) and speech.expects_reply
    assert (speech.speech, speech.confidence, speech.digits, speech.turn) == (
        "I need help with my bill",
        0.91,
        None,
        3,
    )
    digits = _parse(start_app() | {"InputType": "dtmf", "Digits": "1234"}, "callId=c1&kind=gather&turn=3")
    assert isinstance(digits, UserInput) and (digits.digits, digits.speech) == ("1234", None)


def test_the_no_input_redirect_is_a_no_input_for_that_turn() -> None:
    # What our <Redirect> after <GetInput> posts: the standard parameters, no input.
    event = _parse(
        start_app() | {"CallStatus": "in-progress", "Event": "Redirect"}, "callId=c1&kind=gather&turn=4"
    )
    assert isinstance(event, NoInput) and event.expects_reply and (event.call_id, event.turn) == ("c1", 4)
    empty = _parse(start_app() | {"InputType": "speech", "Speech": ""}, "callId=c1&kind=gather&turn=4")
    assert isinstance(empty, NoInput)


def test_a_pending_fetch_asks_for_instructions_unless_the_call_ended() -> None:
    fetch = _parse(start_app() | {"CallStatus": "in-progress", "Event": "Transfer"}, "callId=c1&kind=pending")
    assert isinstance(fetch, InstructionsRequested) and fetch.expects_reply
    ended = _parse(HANGUP, "callId=c1&kind=pending")
    assert isinstance(ended, CallEnded)


def test_machine_detection_and_ringing() -> None:
    amd = {
        "ALegRequestUUID": "9834029e-58b6-11e1-b8b7-a5bd0e4e126f",
        "ALegUUID": CALL_UUID,
        "CallStatus": "in-progress",
        "CallUUID": CALL_UUID,
        "Direction": "outbound",
        "Event": "MachineDetection",
        "From": "14155550101",
        "IfMachine": "continue",
        "Machine": "true",
        "RequestUUID": "9834029e-58b6-11e1-b8b7-a5bd0e4e126f",
        "To": "14155550100",
    }
    machine = _parse(amd, "callId=c1&kind=status")
    assert isinstance(machine, CallAnswered) and machine.answered_by == "machine"
    human = _parse(amd | {"Machine": "false"}, "callId=c1&kind=status")
    assert isinstance(human, CallAnswered) and human.answered_by == "human"
    # The answer URL gets instructions even when it carries a detection result already.
    answer = _parse(amd | {"Event": "StartApp"}, "callId=c1&kind=answer")
    assert isinstance(answer, CallStarted) and answer.expects_reply and answer.answered_by == "machine"
    ring = _parse(
        {k: v for k, v in amd.items() if k != "Machine"} | {"Event": "Ring"}, "callId=c1&kind=status"
    )
    assert isinstance(ring, CallRinging)


def test_a_recording_result() -> None:
    form = {
        "CallUUID": CALL_UUID,
        "Digits": "#",
        "From": CALLER,
        "RecordUrl": "https://media.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Recording/2bd1.mp3",
        "RecordingDuration": "12",
        "RecordingID": "2bd1bd1d-0000-0000-0000-000000000000",
        "To": OUR_NUMBER,
    }
    event = _parse(form, "callId=c1&kind=record&reply=1")
    assert isinstance(event, RecordingReady) and event.expects_reply
    assert (event.duration_seconds, event.recording_id) == (12.0, "2bd1bd1d-0000-0000-0000-000000000000")
    assert _parse(form | {"RecordingDuration": "-1"}, "callId=c1&kind=record").duration_seconds is None
    after_hangup = _parse(form | {"CallStatus": "completed"}, "callId=c1&kind=record")
    assert isinstance(after_hangup, RecordingReady) and after_hangup.url == form["RecordUrl"]


@pytest.mark.parametrize(
    "params",
    [
        start_app() | {"Event": "StartStream", "StreamID": "s1"},
        start_app() | {"Event": "DegradedStream", "StreamID": "s1"},
        start_app() | {"DialStatus": "completed", "DialALegUUID": CALL_UUID},
        start_app() | {"Event": "SomethingNew", "CallStatus": "in-progress"},
    ],
    ids=["stream-started", "stream-degraded", "dial-result", "unknown-event"],
)
def test_events_we_do_not_act_on_are_none(params: dict[str, str]) -> None:
    assert _parse(params, "callId=c1&kind=status") is None


def test_a_console_answer_url_without_event_still_starts_the_call() -> None:
    params = {k: v for k, v in start_app().items() if k != "Event"}
    assert isinstance(_parse(params), CallStarted)


def test_a_request_without_call_uuid_is_malformed() -> None:
    with pytest.raises(WebhookRejected) as rejected:
        _parse({"Event": "StartApp"})
    assert rejected.value.status == 400


# ---------------------------------------------------------------- Plivo XML


def _xml(actions: list[Any], voice: str | None = None) -> ElementTree.Element:
    return ElementTree.fromstring(render_plivo_xml(actions, default_voice=voice))


def test_speak_play_wait_hangup_redirect() -> None:
    root = _xml(
        [
            Say(text="Hello & welcome", voice="alloy", language="en-GB"),
            Say(text="Plain"),
            Play(url="https://example.com/a.mp3?x=1&y=2", loop=2),
            Pause(seconds=3),
            Redirect(url="https://example.com/next?a=1&b=2"),
            Hangup(after_playback=True),
        ],
        voice="WOMAN",
    )
    assert [child.tag for child in root] == ["Speak", "Speak", "Play", "Wait", "Redirect", "Hangup"]
    speak, plain, play, wait, redirect, _ = root
    assert (speak.text, speak.attrib) == ("Hello & welcome", {"voice": "Polly.Joanna", "language": "en-GB"})
    assert plain.attrib == {"voice": "WOMAN"}
    assert (play.text, play.attrib) == ("https://example.com/a.mp3?x=1&y=2", {"loop": "2"})
    assert wait.attrib == {"length": "3"}
    assert (redirect.text, redirect.attrib) == ("https://example.com/next?a=1&b=2", {"method": "POST"})
    assert "&amp;" in render_plivo_xml([Redirect(url="https://e.x/?a=1&b=2")])


def test_long_speech_is_split_between_words_within_plivos_limit() -> None:
    text = " ".join(f"word{i}" for i in range(1500))  # about 12,400 characters
    root = _xml([Gather(action_url="https://e.x/g", prompt=(Say(text=text, voice="MAN"),))])
    parts = [speak.text or "" for speak in root[0]]
    assert len(parts) == 5 and all(len(part) <= 3000 for part in parts)
    assert " ".join(parts) == text and all(speak.attrib["voice"] == "MAN" for speak in root[0])
    (unbroken,) = _xml([Say(text="x" * 3001)]).findall("Speak")[1:]
    assert unbroken.text == "x"


def test_gather_has_an_explicit_no_input_path() -> None:
    url = "https://voice.example.com/voice/webhook?callId=c1&kind=gather&turn=2"
    root = _xml(
        [
            Gather(
                action_url=url,
                prompt=(Say(text="How can I help?"), Play(url="https://e.x/beep.mp3")),
                timeout_seconds=7,
                speech_timeout=3,
                hints=("billing", "support"),
                num_digits=1,
                finish_on_key="#",
            )
        ]
    )
    get_input, redirect = root
    assert get_input.tag == "GetInput" and redirect.tag == "Redirect"
    assert get_input.attrib == {
        "action": url,
        "method": "POST",
        "inputType": "dtmf speech",
        "executionTimeout": "17",  # 7 s, and time to finish a sentence
        "speechEndTimeout": "3",
        "hints": "billing,support",
        "language": "en-US",
        "numDigits": "1",
        "finishOnKey": "#",
        "redirect": "true",
    }
    assert [child.tag for child in get_input] == ["Speak", "Play"]
    # Nothing heard: Plivo falls through to the Redirect, which posts the same turn without input.
    assert (redirect.text, redirect.attrib) == (url, {"method": "POST"})


def test_gather_limits_and_kinds() -> None:
    speech_only = _xml([Gather(action_url="https://e.x/g", speech=True, dtmf=False, timeout_seconds=90)])[0]
    assert speech_only.attrib["inputType"] == "speech" and speech_only.attrib["executionTimeout"] == "60"
    assert speech_only.attrib["speechEndTimeout"] == "auto" and "numDigits" not in speech_only.attrib
    dtmf_only = _xml([Gather(action_url="https://e.x/g", speech=False, dtmf=True, timeout_seconds=1)])[0]
    assert dtmf_only.attrib["inputType"] == "dtmf" and dtmf_only.attrib["executionTimeout"] == "5"
    assert "speechEndTimeout" not in dtmf_only.attrib
    with pytest.raises(ValueError, match="speech, digits"):
        render_plivo_xml([Gather(action_url="https://e.x/g", speech=False, dtmf=False)])
    leading = _xml([Gather(action_url="https://e.x/g", prompt=(Pause(seconds=1), Say(text="Hi")))])
    assert [child.tag for child in leading] == ["Wait", "GetInput", "Redirect"]
    with pytest.raises(ValueError, match="pause"):
        render_plivo_xml([Gather(action_url="https://e.x/g", prompt=(Say(text="Hi"), Pause(seconds=1)))])


def test_reject_dial_record_dtmf() -> None:
    root = _xml(
        [
            Reject(reason="busy"),
            Reject(),
            Transfer(
                to="+14155550100", caller_id="+14155550101", timeout_seconds=25, action_url="https://e.x/d"
            ),
            Transfer(to="sip:agent@example.com"),
            Record(action_url="https://e.x/r?kind=record", max_length_seconds=60, play_beep=False),
            SendDigits(digits="1234w#"),
        ]
    )
    busy, rejected, dial, sip, record, dtmf = root
    assert busy.tag == rejected.tag == "Hangup"
    assert (busy.attrib, rejected.attrib) == ({"reason": "busy"}, {"reason": "rejected"})
    assert dial.attrib == {
        "callerId": "14155550101",
        "timeout": "25",
        "action": "https://e.x/d",
        "method": "POST",
    }
    assert [(n.tag, n.text) for n in dial] == [("Number", "14155550100")]
    assert [(n.tag, n.text) for n in sip] == [
        ("Number", "sip:agent@example.com")
    ] and "action" not in sip.attrib
    assert record.attrib == {
        "action": "https://e.x/r?kind=record",
        "method": "POST",
        "maxLength": "60",
        "finishOnKey": "#",
        "playBeep": "false",
        "redirect": "true",
    }
    assert (dtmf.tag, dtmf.text) == ("DTMF", "1234w#")


def test_stream_is_bidirectional_mulaw_kept_alive_with_our_token() -> None:
    (stream,) = _xml(
        [
            ConnectStream(
                url="wss://voice.example.com/voice/stream", parameters={"token": "t-1_x", "callId": "c1"}
            )
        ]
    )
    assert stream.text == "wss://voice.example.com/voice/stream"
    assert stream.attrib == {
        "bidirectional": "true",
        "audioTrack": "inbound",
        "keepCallAlive": "true",
        "contentType": "audio/x-mulaw;rate=8000",
        "extraHeaders": "token=t-1_x,callId=c1",
    }
    with pytest.raises(ValueError, match="extraHeaders"):
        render_plivo_xml([ConnectStream(url="wss://e.x/s", parameters={"token": "a,b=c"})])
    with pytest.raises(ValueError, match="512"):
        render_plivo_xml([ConnectStream(url="wss://e.x/s", parameters={"token": "x" * 600})])


def test_the_sdk_renders_the_same_stream_element() -> None:
    from plivo import plivoxml

    ours = _xml([ConnectStream(url="wss://test.url", parameters={"a": "1", "b": "2"})])[0]
    sdk = plivoxml.ResponseElement().add(
        plivoxml.StreamElement(
            "wss://test.url",
            bidirectional=True,
            audioTrack="inbound",
            keepCallAlive=True,
            contentType="audio/x-mulaw;rate=8000",
            extraHeaders="a=1,b=2",
        )
    )
    theirs = ElementTree.fromstring(sdk.to_string())[0]
    assert (ours.tag, ours.text, ours.attrib) == (theirs.tag, theirs.text, theirs.attrib)


def test_answer_renders_nothing_and_acknowledge_is_an_empty_response() -> None:
    from telephony.adapters.plivo import PlivoResponder
    from telephony.providers import Answer

    assert [child.tag for child in _xml([Answer(), Hangup()])] == ["Hangup"]
    ack = PlivoResponder().acknowledge()
    assert ack.content_type == "application/xml" and ElementTree.fromstring(ack.body).tag == "Response"
    assert len(ElementTree.fromstring(ack.body)) == 0


# ---------------------------------------------------------------- media


START = {
    "event": "start",
    "sequenceNumber": 1,
    "start": {
        "callId": "12345678-1234-1234-1234-123456789abc",
        "streamId": "87654321-4321-4321-4321-cba987654321",
        "accountId": "MAXXXXXXXXXXXXXXXXXX",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
    },
    "extra_headers": "userId=12345;sessionId=abc-xyz",
}


def _start(**changes: Any) -> str:
    frame = json.loads(json.dumps(START))
    for key, value in changes.items():
        if key == "encoding":
            frame["start"]["mediaFormat"]["encoding"] = value
        else:
            frame[key] = value
    return json.dumps(frame)


def test_the_documented_start_frame() -> None:
    started = PlivoMediaCodec().decode(_start())
    assert isinstance(started, StreamStarted)
    assert started.provider_call_id == "12345678-1234-1234-1234-123456789abc"
    assert started.stream_id == "87654321-4321-4321-4321-cba987654321"
    assert (started.audio_format.encoding, started.audio_format.sample_rate) == ("mulaw", 8000)
    assert started.parameters == {"userId": "12345", "sessionId": "abc-xyz"}


@pytest.mark.parametrize(
    "changes",
    [
        {"extra_headers": "token=t1,callId=c1"},
        {"extra_headers": "token=t1;callId=c1"},
        {"extra_headers": None, "extraHeaders": "token=t1,callId=c1"},
        {"extra_headers": {"token": "t1", "callId": "c1"}},
    ],
    ids=["comma", "semicolon", "camel-case", "object"],
)
def test_extra_headers_become_the_stream_parameters(changes: dict[str, Any]) -> None:
    started = PlivoMediaCodec().decode(_start(**changes))
    assert isinstance(started, StreamStarted) and started.parameters == {"token": "t1", "callId": "c1"}


def test_an_undecodable_format_is_refused() -> None:
    with pytest.raises(MediaRejected, match="x-l16"):
        PlivoMediaCodec().decode(_start(encoding="audio/x-l16"))
    frame = json.loads(_start())
    frame["start"]["mediaFormat"]["sampleRate"] = "8000"
    started = PlivoMediaCodec().decode(json.dumps(frame))
    assert isinstance(started, StreamStarted) and started.audio_format.sample_rate == 8000
    frame["start"]["mediaFormat"]["sampleRate"] = "eight"
    with pytest.raises(MediaRejected, match="sample rate"):
        PlivoMediaCodec().decode(json.dumps(frame))


def _frames(codec: PlivoMediaCodec, encoding: str) -> tuple[Any, StreamStarted]:
    started = codec.decode(_start(encoding=encoding))
    assert isinstance(started, StreamStarted)
    return codec.session(started), started


@pytest.mark.parametrize(
    ("encoding", "content_type", "name"),
    [
        ("audio/x-mulaw", "audio/x-mulaw", "mulaw"),
        ("audio/x-alaw", "audio/x-alaw", "alaw"),
    ],
)
def test_media_round_trip_with_checkpoints_and_clear(encoding: str, content_type: str, name: str) -> None:
    session, started = _frames(PlivoMediaCodec(), encoding)
    assert started.audio_format.encoding == name
    stream_id = started.stream_id
    audio = bytes(range(160))
    inbound = {
        "event": "media",
        "sequenceNumber": 42,
        "streamId": stream_id,
        "media": {
            "track": "inbound",
            "timestamp": "1705312200000",
            "chunk": 41,
            "payload": base64.b64encode(audio).decode(),
        },
        "extra_headers": "userId=12345;sessionId=abc-xyz",
    }
    received = session.decode(json.dumps(inbound))
    assert isinstance(received, AudioReceived) and received.payload == audio
    play = json.loads(session.encode(SendAudio(payload=audio)))
    assert play == {
        "event": "playAudio",
        "media": {
            "contentType": content_type,
            "sampleRate": 8000,
            "payload": base64.b64encode(audio).decode(),
        },
    }
    assert json.loads(session.encode(SendMark(name="u1"))) == {
        "event": "checkpoint",
        "streamId": stream_id,
        "name": "u1",
    }
    played = session.decode(json.dumps({"event": "playedStream", "streamId": stream_id, "name": "u1"}))
    assert played == MarkReached(name="u1")
    assert json.loads(session.encode(ClearAudio())) == {"event": "clearAudio", "streamId": stream_id}
    cleared = session.decode(
        json.dumps({"sequenceNumber": 0, "event": "clearedAudio", "streamId": stream_id})
    )
    assert isinstance(cleared, Ignored)


def test_inbound_frames_in_both_spellings() -> None:
    codec = PlivoMediaCodec()
    dtmf = {
        "event": "dtmf",
        "sequenceNumber": 57,
        "streamId": "s",
        "dtmf": {"digit": "5", "track": "inbound", "timestamp": "1"},
    }
    assert codec.decode(json.dumps(dtmf)) == DigitReceived(digit="5")
    assert codec.decode(json.dumps({"event": "dtmf", "digit": "#"})) == DigitReceived(digit="#")
    assert codec.decode(json.dumps({"event": "dtmf", "dtmf": "7"})) == DigitReceived(digit="7")
    assert codec.decode(json.dumps({"event": "played", "streamId": "s", "name": "u2"})) == MarkReached(
        name="u2"
    )
    assert isinstance(codec.decode('{"event": "stop"}'), StreamStopped)
    assert codec.decode('{"event": "playFailed", "reason": "x"}') == Ignored(event="playFailed")
    outbound = {"event": "media", "media": {"track": "outbound", "payload": "AAAA"}}
    assert isinstance(codec.decode(json.dumps(outbound)), Ignored)


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        '{"event": "media", "media": {"payload": "***"}}',
        '{"event": "media"}',
        '{"event": "start", "start": {"streamId": "s"}}',
        '{"event": "dtmf", "dtmf": {"track": "inbound"}}',
        '{"no": "event"}',
    ],
)
def test_malformed_frames_are_refused(frame: str) -> None:
    with pytest.raises(MediaRejected):
        PlivoMediaCodec().decode(frame)


# ---------------------------------------------------------------- REST


def _control(base_url: str | None = None) -> PlivoCallControl:
    return PlivoCallControl(auth_id=AUTH_ID, auth_token=AUTH_TOKEN, base_url=base_url)


CALLBACKS = DialCallbacks(
    answer_url="https://voice.example.com/voice/webhook?callId=c1&kind=answer",
    status_url="https://voice.example.com/voice/webhook?callId=c1&kind=status",
    identity=CallIdentity(call_id="c1", kind="answer"),
    ring_timeout_seconds=30,
    time_limit_seconds=300,
    machine_detection=True,
)
REF = CallRef(call_id="c1", provider_call_id=CALL_UUID, from_number="+" + OUR_NUMBER, to_number="+" + CALLER)


async def test_create_call(no_network: respx.MockRouter) -> None:
    route = no_network.post(CALLS).mock(
        return_value=httpx.Response(
            201,
            json={
                "message": "call fired",
                "request_uuid": "9834029e-58b6-11e1-b8b7-a5bd0e4e126f",
                "api_id": "97ceeb52-58b6-11e1-86da-77300b68f8bb",
            },
        )
    )
    control = _control()
    placed = await control.place_call(REF, CALLBACKS)
    await control.aclose()
    assert placed.provider_call_id == "9834029e-58b6-11e1-b8b7-a5bd0e4e126f" and placed.provisional
    request = route.calls.last.request
    assert (
        request.headers["authorization"]
        == "Basic " + base64.b64encode(f"{AUTH_ID}:{AUTH_TOKEN}".encode()).decode()
    )
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "from": OUR_NUMBER,
        "to": CALLER,
        "answer_url": CALLBACKS.answer_url,
        "answer_method": "POST",
        "hangup_url": CALLBACKS.status_url,
        "hangup_method": "POST",
        "ring_url": CALLBACKS.status_url,
        "ring_method": "POST",
        "ring_timeout": 30,
        "time_limit": 300,
        "machine_detection": "true",
        "machine_detection_url": CALLBACKS.status_url,
        "machine_detection_method": "POST",
    }


async def test_base_url_replaces_scheme_and_host(no_network: respx.MockRouter) -> None:
    route = no_network.post(f"http://plivo.internal:8080/v1/Account/{AUTH_ID}/Call/").mock(
        return_value=httpx.Response(201, json={"request_uuid": "r1"})
    )
    control = _control("http://plivo.internal:8080/")
    await control.place_call(
        REF, DialCallbacks(answer_url="a", status_url="s", identity=CallIdentity(call_id="c1"))
    )
    await control.aclose()
    assert route.called and "machine_detection" not in json.loads(route.calls.last.request.content)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            httpx.Response(401, json={"api_id": "x", "error": "authentication failed"}),
            "401: authentication failed",
        ),
        (httpx.Response(400, json={"error": "invalid to number 14158675309"}), "invalid to number <number>"),
        (httpx.Response(201, json={"message": "call fired"}), "no request_uuid"),
        (httpx.Response(500, text="oops"), "500"),
    ],
)
async def test_create_errors_are_clear_and_secret_free(
    no_network: respx.MockRouter, response: httpx.Response, message: str
) -> None:
    no_network.post(CALLS).mock(return_value=response)
    control = _control()
    with pytest.raises(CallControlError, match=message) as failed:
        await control.place_call(REF, CALLBACKS)
    await control.aclose()
    assert AUTH_TOKEN not in str(failed.value) and CALLER not in str(failed.value)


async def test_an_unreachable_api_is_a_call_control_error(no_network: respx.MockRouter) -> None:
    no_network.post(CALLS).mock(side_effect=httpx.ConnectError("refused"))
    control = _control()
    with pytest.raises(CallControlError, match="cannot reach the Plivo API: ConnectError"):
        await control.place_call(REF, CALLBACKS)
    await control.aclose()


async def test_hangup_deletes_the_call(no_network: respx.MockRouter) -> None:
    route = no_network.delete(f"{CALLS}{CALL_UUID}/").mock(return_value=httpx.Response(204))
    control = _control()
    await control.hangup(REF)
    await control.aclose()
    assert route.call_count == 1


async def test_hangup_of_an_ended_call_succeeds(no_network: respx.MockRouter) -> None:
    call = no_network.delete(f"{CALLS}{CALL_UUID}/").mock(
        return_value=httpx.Response(404, json={"error": "not found"})
    )
    request = no_network.delete(f"https://api.plivo.com/v1/Account/{AUTH_ID}/Request/{CALL_UUID}/").mock(
        return_value=httpx.Response(404)
    )
    control = _control()
    await control.hangup(REF)
    await control.hangup(REF)
    await control.aclose()
    assert call.call_count == 2 and request.call_count == 2


async def test_hangup_before_the_call_uuid_is_known_cancels_the_request(no_network: respx.MockRouter) -> None:
    no_network.delete(f"{CALLS}r-1/").mock(return_value=httpx.Response(404))
    cancel = no_network.delete(f"https://api.plivo.com/v1/Account/{AUTH_ID}/Request/r-1/").mock(
        return_value=httpx.Response(204)
    )
    control = _control()
    await control.hangup(CallRef(call_id="c1", provider_call_id="r-1"))
    await control.aclose()
    assert cancel.called


async def test_hangup_failures_are_errors(no_network: respx.MockRouter) -> None:
    no_network.delete(f"{CALLS}{CALL_UUID}/").mock(return_value=httpx.Response(500))
    control = PlivoCallControl(auth_id=AUTH_ID, auth_token=AUTH_TOKEN, retry=RetryPolicy(attempts=1))
    with pytest.raises(CallControlError, match="500"):
        await control.hangup(REF)
    with pytest.raises(CallControlError, match="no Plivo CallUUID"):
        await control.hangup(CallRef(call_id="c1"))
    await control.aclose()


async def test_redirect_transfers_the_live_call(no_network: respx.MockRouter) -> None:
    route = no_network.post(f"{CALLS}{CALL_UUID}/").mock(
        return_value=httpx.Response(202, json={"message": "call transferred", "api_id": "x"})
    )
    control = _control()
    await control.redirect(REF, "https://voice.example.com/voice/webhook?callId=c1&kind=pending")
    await control.aclose()
    assert json.loads(route.calls.last.request.content) == {
        "legs": "aleg",
        "aleg_url": "https://voice.example.com/voice/webhook?callId=c1&kind=pending",
        "aleg_method": "POST",
    }


async def test_redirect_of_an_ended_call_is_an_error(no_network: respx.MockRouter) -> None:
    no_network.post(f"{CALLS}{CALL_UUID}/").mock(
        return_value=httpx.Response(404, json={"error": "not found"})
    )
    control = _control()
    with pytest.raises(CallControlError, match="404"):
        await control.redirect(REF, "https://e.x/p")
    await control.aclose()


# ---------------------------------------------------------------- settings


def test_settings_from_the_environment_and_missing_keys() -> None:
    filled = PLIVO_SETTINGS.with_environment({}, {"PLIVO_AUTH_ID": AUTH_ID, "PLIVO_AUTH_TOKEN": AUTH_TOKEN})
    settings = PLIVO_SETTINGS.parse(filled)
    assert (settings.auth_id, settings.auth_token) == (AUTH_ID, AUTH_TOKEN)
    assert AUTH_TOKEN not in repr(settings)
    with pytest.raises(AdapterConfigError, match=r"plivo.authId: required .*PLIVO_AUTH_ID"):
        PLIVO_SETTINGS.parse({"authToken": AUTH_TOKEN}, required_by='provider "plivo"')
    with pytest.raises(AdapterConfigError, match=r"plivo.authToken: required .*PLIVO_AUTH_TOKEN"):
        PLIVO_SETTINGS.parse({"authId": AUTH_ID}, required_by='provider "plivo"')
    with pytest.raises(AdapterConfigError, match=r"plivo\.authId"):
        PLIVO_SETTINGS.parse({"authId": "not-an-id", "authToken": AUTH_TOKEN})
    with pytest.raises(AdapterConfigError, match=r"plivo\.baseUrl"):
        PLIVO_SETTINGS.parse({"authId": AUTH_ID, "authToken": AUTH_TOKEN, "baseUrl": "api.plivo.com"})


def test_the_server_refuses_to_start_without_credentials() -> None:
    from telephony.config import ConfigError, config_from_mapping
    from telephony.server import create_app

    data = {"provider": "plivo", "publicUrl": "https://voice.example.com", "plivo": {"authId": AUTH_ID}}
    with pytest.raises(
        ConfigError, match=r"plivo.authToken: required by provider \"plivo\" \(or set PLIVO_AUTH_TOKEN\)"
    ):
        create_app(config_from_mapping(data, env={}))


def test_the_entry_point_builds_the_carrier() -> None:
    from telephony.providers import CARRIERS, load

    factory = load(CARRIERS, "plivo")
    assert factory is create_carrier
    carrier = factory(
        {"authId": AUTH_ID, "authToken": AUTH_TOKEN}, CarrierContext(public_url="https://v.example.com")
    )
    assert (
        carrier.name == "plivo" and not carrier.capabilities.commands and carrier.capabilities.reports_silence
    )


# ---------------------------------------------------------------- through the real app


def _document(response: Any) -> ElementTree.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return ElementTree.fromstring(response.text)


def _spoken(element: ElementTree.Element) -> list[str]:
    return [speak.text or "" for speak in element.iter("Speak")]


def test_an_inbound_conversation_through_the_app() -> None:
    with plivo_app(plivo_config()) as client:
        greeting = _document(post_signed(client, WEBHOOK_URL, start_app()))
        get_input, no_input = greeting
        assert get_input.tag == "GetInput" and _spoken(get_input) == ["Hello! How can I help you today?"]
        assert no_input.tag == "Redirect" and no_input.text == get_input.attrib["action"]
        assert "kind=gather" in get_input.attrib["action"] and "turn=1" in get_input.attrib["action"]
        turn = start_app() | {"CallStatus": "in-progress", "InputType": "speech"}
        reply = _document(
            post_signed(client, get_input.attrib["action"], turn | {"Speech": "What time is it?"})
        )
        assert reply[0].tag == "GetInput" and _spoken(reply[0])[0].startswith("It's")
        goodbye = _document(post_signed(client, reply[0].attrib["action"], turn | {"Speech": "Goodbye."}))
        assert [child.tag for child in goodbye] == ["Speak", "Hangup"]
        assert goodbye[0].text == "Thanks for calling. Goodbye!"
        hangup = post_signed(client, WEBHOOK_URL + "?kind=status", HANGUP | {"Direction": "inbound"})
        assert hangup.status_code == 200
        (record,) = client.get("/api/calls").json()
    assert record["provider_call_id"] == CALL_UUID and record["state"] == "hangup-bot"
    assert [turn["speaker"] for turn in record["transcript"]] == ["bot", "user", "bot", "user", "bot"]


def test_keypad_input_through_the_app() -> None:
    with plivo_app(plivo_config()) as client:
        greeting = _document(post_signed(client, WEBHOOK_URL, start_app()))
        keyed = start_app() | {"CallStatus": "in-progress", "InputType": "dtmf", "Digits": "42"}
        reply = _document(post_signed(client, greeting[0].attrib["action"], keyed))
        assert reply[0].tag == "GetInput" and "turn=2" in reply[0].attrib["action"]
        (record,) = client.get("/api/calls").json()
    assert record["transcript"][1] == record["transcript"][1] | {"speaker": "user", "text": "[keypad: 42]"}


def test_speaking_on_a_live_call_transfers_it_to_the_pending_actions(no_network: respx.MockRouter) -> None:
    transfer = no_network.post(f"{CALLS}{CALL_UUID}/").mock(
        return_value=httpx.Response(202, json={"message": "call transferred", "api_id": "a"})
    )
    with plivo_app(plivo_config()) as client:
        _document(post_signed(client, WEBHOOK_URL, start_app()))
        call_id = client.get("/api/calls").json()[0]["call_id"]
        spoken = client.post(f"/api/calls/{call_id}/speak", json={"text": "One more thing."})
        assert spoken.status_code == 200, spoken.text
        body = json.loads(transfer.calls.last.request.content)
        assert body["legs"] == "aleg" and body["aleg_method"] == "POST" and "kind=pending" in body["aleg_url"]
        # Plivo fetches the new XML from the URL it was transferred to.
        fetched = start_app() | {"CallStatus": "in-progress", "Event": "Transfer"}
        document = _document(post_signed(client, body["aleg_url"], fetched))
    assert document[0].tag == "GetInput" and _spoken(document[0]) == ["One more thing."]
    assert document[1].tag == "Redirect"


def test_silence_comes_back_through_the_explicit_redirect() -> None:
    with plivo_app(plivo_config(noInputRetries=1)) as client:
        greeting = _document(post_signed(client, WEBHOOK_URL, start_app()))
        silent = start_app() | {"CallStatus": "in-progress", "Event": "Redirect"}
        reprompt = _document(post_signed(client, greeting[1].text or "", silent))
        assert reprompt[0].tag == "GetInput" and "turn=2" in reprompt[0].attrib["action"]
        goodbye = _document(post_signed(client, reprompt[1].text or "", silent))
        assert goodbye[-1].tag == "Hangup"
        (record,) = client.get("/api/calls").json()
    assert record["state"] == "hangup-bot" and record["no_input_count"] == 2


def test_a_replayed_webhook_changes_nothing(no_network: respx.MockRouter) -> None:
    with plivo_app(plivo_config()) as client:
        greeting = _document(post_signed(client, WEBHOOK_URL, start_app()))
        url = greeting[0].attrib["action"]
        params = start_app() | {"CallStatus": "in-progress", "InputType": "speech", "Speech": "Hello."}
        headers = {
            "X-Plivo-Signature-V3-Nonce": "42",
            "X-Plivo-Signature-V3": sign("POST", url, params, "42"),
        }
        first = post_signed(client, url, params, headers=headers)
        again = post_signed(client, url, params, headers=headers)  # a captured request, sent again
        assert first.status_code == again.status_code == 200 and first.text == again.text
        unsigned = client.post(urlsplit(url).path + "?" + urlsplit(url).query, content=urlencode(params))
        assert unsigned.status_code == 401
        (record,) = client.get("/api/calls").json()
    assert [turn["speaker"] for turn in record["transcript"]] == ["bot", "user", "bot"]


def test_an_outbound_call_binds_the_call_uuid_of_its_first_callback(no_network: respx.MockRouter) -> None:
    create = no_network.post(CALLS).mock(
        return_value=httpx.Response(
            201, json={"message": "call fired", "request_uuid": "req-1", "api_id": "a"}
        )
    )
    with plivo_app(plivo_config()) as client:
        placed = client.post(
            "/api/calls", json={"to": "+" + CALLER, "message": "Hi there.", "mode": "conversation"}
        )
        assert placed.status_code == 201, placed.text
        assert placed.json()["provider_call_id"] == "req-1"
        body = json.loads(create.calls.last.request.content)
        answered = {
            "CallUUID": CALL_UUID,
            "RequestUUID": "req-1",
            "ALegRequestUUID": "req-1",
            "ALegUUID": CALL_UUID,
            "CallStatus": "in-progress",
            "Direction": "outbound",
            "Event": "StartApp",
            "From": OUR_NUMBER,
            "To": CALLER,
        }
        ring = post_signed(client, body["ring_url"], answered | {"Event": "Ring", "CallStatus": "ringing"})
        assert ring.status_code == 200
        greeting = _document(post_signed(client, body["answer_url"], answered))
        assert _spoken(greeting[0]) == ["Hi there."]
        hangup = post_signed(client, body["hangup_url"], HANGUP | {"RequestUUID": "req-1"})
        assert hangup.status_code == 200
        calls = client.get("/api/calls").json()
    assert len(calls) == 1
    assert calls[0]["provider_call_id"] == CALL_UUID and calls[0]["state"] == "completed"


class _QuickVoice:
    async def synthesize(self, text: str) -> Any:
        yield SynthesizedAudio(pcm=b"\x00\x00" * 3200, sample_rate=16000)


class _DeafSTT:
    sample_rate = 16000

    async def open_stream(self, *, language: str = "en-US") -> Any:
        from telephony.providers import SegmentingTranscriptionStream

        async def transcribe(pcm: bytes, rate: int) -> tuple[str, float | None]:
            return "", None

        return SegmentingTranscriptionStream(transcribe, self.sample_rate)


def _until(ws: Any, event: str) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = json.loads(ws.receive_text())
        frames.append(frame)
        if frame["event"] == event:
            return frames


def test_a_stream_call_authorizes_with_the_extra_headers(no_network: respx.MockRouter) -> None:
    with plivo_app(plivo_config(streaming=True), tts=_QuickVoice(), stt=_DeafSTT()) as client:
        (stream,) = _document(post_signed(client, WEBHOOK_URL, start_app()))
        headers = stream.attrib["extraHeaders"]
        named = dict(item.split("=", 1) for item in headers.split(","))
        credential = f"/{named['callId']}/{named['token']}"
        assert stream.tag == "Stream" and stream.text == "wss://voice.example.com/voice/stream" + credential
        start = json.loads(_start(extra_headers=headers.replace(",", ";")))
        start["start"]["callId"] = CALL_UUID
        with client.websocket_connect(urlsplit(stream.text).path) as ws:
            ws.send_text(json.dumps(start))
            frames = _until(ws, "checkpoint")
            assert frames[0]["event"] == "playAudio" and frames[0]["media"]["contentType"] == "audio/x-mulaw"
            assert len(base64.b64decode(frames[0]["media"]["payload"])) == 160
            assert frames[-1]["streamId"] == START["start"]["streamId"]
            ws.send_text(json.dumps({"event": "playedStream", "streamId": "s", "name": frames[-1]["name"]}))
            ws.send_text('{"event": "stop"}')
        (record,) = client.get("/api/calls").json()
    assert (
        record["media"] == "stream" and record["transcript"][0]["text"] == "Hello! How can I help you today?"
    )


def test_a_stream_with_a_reused_token_is_refused(no_network: respx.MockRouter) -> None:
    from litestar.exceptions import WebSocketDisconnect

    with plivo_app(plivo_config(streaming=True), tts=_QuickVoice(), stt=_DeafSTT()) as client:
        (stream,) = _document(post_signed(client, WEBHOOK_URL, start_app()))
        start = json.loads(_start(extra_headers=stream.attrib["extraHeaders"]))
        start["start"]["callId"] = CALL_UUID
        with client.websocket_connect("/voice/stream") as ws:
            ws.send_text(json.dumps(start))
            _until(ws, "checkpoint")
            ws.send_text('{"event": "stop"}')
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/voice/stream") as ws:
            ws.send_text(json.dumps(start))
            ws.receive_text()


def test_a_restart_mid_call_loses_nothing(tmp_path: Path) -> None:
    config = plivo_config()
    with plivo_app(config, store=SqliteCallStore(tmp_path)) as client:
        greeting = _document(post_signed(client, WEBHOOK_URL, start_app()))
    # A new process on the same store takes the caller's answer to the first process's GetInput.
    with plivo_app(config, store=SqliteCallStore(tmp_path)) as client:
        turn = start_app() | {
            "CallStatus": "in-progress",
            "InputType": "speech",
            "Speech": "What time is it?",
        }
        reply = _document(post_signed(client, greeting[0].attrib["action"], turn))
        assert reply[0].tag == "GetInput" and _spoken(reply[0])[0].startswith("It's")
        (record,) = client.get("/api/calls").json()
    assert [turn["speaker"] for turn in record["transcript"]] == ["bot", "user", "bot"]


def test_the_package_imports_without_the_sdk_and_the_carrier_names_the_extra() -> None:
    # The SDK is slow to import: importing the adapter must not pull it in, and building the
    # carrier without it must name the extra to install.
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'plivo' or name.startswith('plivo.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import telephony.adapters.plivo as adapter\n"
        "from telephony.providers import CarrierContext, MissingDependency\n"
        "try:\n"
        f"    adapter.create_carrier({{'authId': '{AUTH_ID}', 'authToken': 't'}}, CarrierContext(public_url='https://x'))\n"
        "except MissingDependency as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "pip install '.[plivo]' from a telephony checkout, or pip install 'telephony[plivo]'" in out
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, telephony.adapters.plivo; print('plivo' in sys.modules)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert loaded.strip() == "False"


# ---------------------------------------------------------------- stream turns over Plivo frames


class ScriptedSTT:
    """Real voice-activity segmentation; each utterance is "transcribed" as the next scripted line."""

    sample_rate = 16000

    def __init__(self, lines: list[str]) -> None:
        self.lines = list(lines)

    async def _transcribe(self, pcm: bytes, rate: int) -> tuple[str, float | None]:
        return (self.lines.pop(0) if self.lines else "", 0.9)

    async def open_stream(self, *, language: str = "en-US") -> Any:
        from telephony.providers import SegmentingTranscriptionStream

        return SegmentingTranscriptionStream(self._transcribe, self.sample_rate)


def _tone(ms: int) -> bytes:
    """A 440 Hz tone as 8 kHz mu-law: something the voice-activity detector hears as speech."""
    from telephony.media import pcm16_to_ulaw

    samples = range(8 * ms)
    pcm = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in samples)
    return pcm16_to_ulaw(pcm)


def _stream_socket(client: Any) -> tuple[str, str]:
    """Answer an inbound stream call; return the socket path and the start frame Plivo would send."""
    (stream,) = _document(post_signed(client, WEBHOOK_URL, start_app()))
    frame = json.loads(_start(extra_headers=stream.attrib["extraHeaders"]))
    frame["start"]["callId"] = CALL_UUID
    return urlsplit(stream.text or "").path, json.dumps(frame)


def _caller_speaks(ws: Any, audio: bytes) -> None:
    for i in range(0, len(audio), 160):
        payload = base64.b64encode(audio[i : i + 160]).decode()
        ws.send_text(
            json.dumps({"event": "media", "streamId": "s", "media": {"track": "inbound", "payload": payload}})
        )


def _played(ws: Any, checkpoint: dict[str, Any]) -> None:
    ws.send_text(
        json.dumps({"event": "playedStream", "streamId": checkpoint["streamId"], "name": checkpoint["name"]})
    )


def test_stream_turns_over_plivo_frames(no_network: respx.MockRouter) -> None:
    with plivo_app(plivo_config(streaming=True), stt=ScriptedSTT(["what time is it"])) as client:
        path, start = _stream_socket(client)
        with client.websocket_connect(path) as ws:
            ws.send_text(start)
            _played(ws, _until(ws, "checkpoint")[-1])
            _caller_speaks(ws, _tone(600) + b"\xff" * 7200)
            reply = _until(ws, "checkpoint")
            _played(ws, reply[-1])
            ws.send_text(
                json.dumps({"event": "dtmf", "streamId": "s", "dtmf": {"digit": "5", "track": "inbound"}})
            )
            keyed = _until(ws, "checkpoint")
            ws.send_text('{"event": "stop"}')
        transcript = [(t["speaker"], t["text"]) for t in client.get("/api/calls").json()[0]["transcript"]]
    assert sum(frame["event"] == "playAudio" for frame in reply) > 10
    assert sum(frame["event"] == "playAudio" for frame in keyed) > 10
    assert transcript[1] == ("user", "what time is it") and transcript[2][0] == "bot"
    assert transcript[3] == ("user", "[keypad: 5]")


def test_barge_in_sends_clear_audio(no_network: respx.MockRouter) -> None:
    config = plivo_config(streaming=True, inboundGreeting=" ".join(["This greeting goes on and on."] * 6))
    with plivo_app(config, stt=ScriptedSTT(["stop please"])) as client:
        path, start = _stream_socket(client)
        with client.websocket_connect(path) as ws:
            ws.send_text(start)
            for _ in range(20):  # some greeting audio is out before the caller talks over it
                assert json.loads(ws.receive_text())["event"] == "playAudio"
            _caller_speaks(ws, _tone(600) + b"\xff" * 800)
            frames = _until(ws, "clearAudio")
            ws.send_text(json.dumps({"sequenceNumber": 0, "event": "clearedAudio", "streamId": "s"}))
            ws.send_text('{"event": "stop"}')
        transcript = client.get("/api/calls").json()[0]["transcript"]
    assert frames[-1] == {"event": "clearAudio", "streamId": START["start"]["streamId"]}
    assert transcript[0]["text"].endswith("…")


# ---------------------------------------------------------------- swapping carriers

VOICE_TOML = """
provider = "{provider}"
fromNumber = "+18005551212"
publicUrl = "https://voice.example.com"
inboundPolicy = "allowlist"
allowFrom = ["+14158675309"]
inboundGreeting = "Thanks for calling Acme."
"""


def _conversation_over(provider: str, path: Path, env: dict[str, str]) -> list[str]:
    """One inbound call (greeting, a turn, goodbye) over ``provider``; what the bot said, in order."""
    from twilio_helpers import incoming_call
    from twilio_helpers import post_signed as twilio_post

    from telephony.config import load_config

    path.write_text(VOICE_TOML.format(provider=provider))
    config = load_config(path, env=env)
    said: list[str] = []
    with plivo_app(config) as client:
        if provider == "plivo":
            post, hello, key, text_of = post_signed, start_app(), "Speech", _spoken
        else:
            post, hello, key = twilio_post, incoming_call(caller="+" + CALLER), "SpeechResult"

            def text_of(element: ElementTree.Element) -> list[str]:
                return [say.text or "" for say in element.iter("Say")]

        document = _document(post(client, WEBHOOK_URL, hello))
        for line in ("What time is it?", "Goodbye."):
            said += text_of(document)
            gather = document[0]
            document = _document(post(client, gather.attrib["action"], hello | {key: line}))
        said += text_of(document)
    return said


def test_the_same_file_runs_the_same_conversation_over_twilio_and_plivo(tmp_path: Path) -> None:
    from twilio_helpers import ACCOUNT_SID
    from twilio_helpers import AUTH_TOKEN as TWILIO_TOKEN

    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "PLIVO_AUTH_ID": AUTH_ID,
        "PLIVO_AUTH_TOKEN": AUTH_TOKEN,
    }
    over_twilio = _conversation_over("twilio", tmp_path / "voice.toml", env)
    over_plivo = _conversation_over("plivo", tmp_path / "voice.toml", env)
    assert over_plivo[0] == "Thanks for calling Acme." and over_plivo[-1] == "Thanks for calling. Goodbye!"
    # The clock reply names the time of day; everything else is word for word the same.
    assert len(over_plivo) == len(over_twilio) == 3
    assert [over_plivo[0], over_plivo[2]] == [over_twilio[0], over_twilio[2]]
