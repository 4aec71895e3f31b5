"""Every carrier's documented webhooks and media frames: the seeds the properties mutate.

The shapes follow the carriers' own reference pages (and the far ends in ``tests/``); the
properties start from these, so a mutation lands next to a real field rather than in noise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from telephony.providers import CallIdentity

PUBLIC_URL = "https://voice.example.com"
WEBHOOK_URL = PUBLIC_URL + "/voice/webhook"
CALLER = "+14158675309"
OUR_NUMBER = "+18005551212"
CALL_ID = "call-0123456789"
STATE = CallIdentity(call_id=CALL_ID, kind="gather", turn=3).client_state()
"""Client state as our command carriers send it, echoed back on their webhooks."""


@dataclass(frozen=True)
class Seed:
    """One webhook as documented: where it goes (with our identity query), what it carries.

    ``form`` is the body of a form carrier (Twilio, Plivo); ``document`` the JSON body of the
    others. ``query`` is what our callback URL adds (``callId``, ``kind``, ``turn``...).
    """

    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] | None = None
    document: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        return WEBHOOK_URL + (f"?{urlencode(self.query)}" if self.query else "")

    def body(self) -> bytes:
        if self.form is not None:
            return urlencode(self.form).encode()
        return json.dumps(self.document).encode()


def _ours(kind: str, **extra: str) -> dict[str, str]:
    return {"callId": CALL_ID, "kind": kind} | extra


# ---------------------------------------------------------------- Twilio

_TWILIO_CALL = {
    "AccountSid": "AC" + "0" * 32,
    "ApiVersion": "2010-04-01",
    "CallSid": "CA" + "1" * 32,
    "From": CALLER,
    "To": OUR_NUMBER,
    "Direction": "inbound",
}

TWILIO = [
    Seed(form=_TWILIO_CALL | {"CallStatus": "ringing"}),
    Seed(_ours("answer"), form=_TWILIO_CALL | {"CallStatus": "in-progress", "Direction": "outbound-api"}),
    Seed(
        _ours("status"),
        form=_TWILIO_CALL | {"CallStatus": "ringing", "CallbackSource": "call-progress-events"},
    ),
    Seed(_ours("status"), form=_TWILIO_CALL | {"CallStatus": "completed", "CallDuration": "42"}),
    Seed(
        _ours("gather", turn="2"),
        form=_TWILIO_CALL | {"CallStatus": "in-progress", "SpeechResult": "yes please", "Confidence": "0.91"},
    ),
    Seed(_ours("gather", turn="2"), form=_TWILIO_CALL | {"CallStatus": "in-progress", "Digits": "1234#"}),
    Seed(_ours("partial"), form=_TWILIO_CALL | {"UnstableSpeechResult": "yes ple", "Stability": "0.8"}),
    Seed(
        _ours("record", reply="1"),
        form=_TWILIO_CALL
        | {
            "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1",
            "RecordingDuration": "7",
            "RecordingSid": "RE" + "2" * 32,
        },
    ),
    Seed(
        _ours("amd"),
        form=_TWILIO_CALL | {"AnsweredBy": "machine_end_beep", "MachineDetectionDuration": "3100"},
    ),
    Seed(_ours("pending"), form=_TWILIO_CALL | {"CallStatus": "in-progress"}),
]

# ---------------------------------------------------------------- Plivo

_PLIVO_CALL = {
    "CallUUID": "eba53b9e-8fbd-45c1-9444-696d2172fbc8",
    "From": CALLER.removeprefix("+"),
    "To": OUR_NUMBER.removeprefix("+"),
    "Direction": "inbound",
    "SessionStart": "2026-01-15 10:29:58.000000",
}

PLIVO = [
    Seed(form=_PLIVO_CALL | {"Event": "StartApp", "CallStatus": "ringing"}),
    Seed(_ours("answer"), form=_PLIVO_CALL | {"CallStatus": "in-progress", "Direction": "outbound"}),
    Seed(
        _ours("status"),
        form=_PLIVO_CALL
        | {"Event": "Hangup", "CallStatus": "completed", "HangupCause": "NORMAL_CLEARING", "Duration": "31"},
    ),
    Seed(_ours("status"), form=_PLIVO_CALL | {"Event": "Ring", "CallStatus": "ringing"}),
    Seed(
        _ours("gather", turn="4"),
        form=_PLIVO_CALL | {"InputType": "speech", "Speech": "book a table", "SpeechConfidenceScore": "0.87"},
    ),
    Seed(_ours("gather", turn="4"), form=_PLIVO_CALL | {"InputType": "dtmf", "Digits": "42"}),
    Seed(
        _ours("record", reply="1"),
        form=_PLIVO_CALL
        | {
            "RecordUrl": "https://media.plivo.com/v1/Account/MA/Recording/r1.mp3",
            "RecordingDuration": "-1",
            "RecordingID": "r1",
        },
    ),
    Seed(_ours("amd"), form=_PLIVO_CALL | {"Event": "MachineDetection", "Machine": "true"}),
    Seed(_ours("pending"), form=_PLIVO_CALL | {"CallStatus": "in-progress"}),
    Seed(form=_PLIVO_CALL | {"Event": "StartStream", "StreamID": "s1"}),
    Seed(form=_PLIVO_CALL | {"DialStatus": "completed", "DialAction": "hangup"}),
]

# ---------------------------------------------------------------- Telnyx


def _telnyx(event_type: str, **payload: Any) -> Seed:
    call = {
        "call_control_id": "v3:properties-call-control-id",
        "call_leg_id": "leg-1",
        "call_session_id": "session-1",
        "connection_id": "1234567890123456789",
        "from": CALLER,
        "to": OUR_NUMBER,
        "client_state": STATE,
    }
    data = {
        "record_type": "event",
        "event_type": event_type,
        "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
        "occurred_at": "2026-11-30T12:00:00.000000Z",
        "payload": call | payload,
    }
    return Seed(document={"data": data, "meta": {"attempt": 1, "delivered_to": WEBHOOK_URL}})


TELNYX = [
    _telnyx("call.initiated", direction="incoming", state="parked"),
    _telnyx("call.initiated", direction="outgoing", state="bridging"),
    _telnyx("call.answered", client_state=CallIdentity(call_id=CALL_ID, kind="answer").client_state()),
    _telnyx("call.machine.detection.ended", result="machine"),
    _telnyx("call.machine.premium.detection.ended", result="human_residence"),
    _telnyx("call.speak.ended", status="completed"),
    _telnyx(
        "call.transcription",
        transcription_data={"transcript": "yes please", "is_final": True, "confidence": 0.9},
    ),
    _telnyx("call.dtmf.received", digit="5"),
    _telnyx("call.gather.ended", status="valid", digits="123"),
    _telnyx(
        "call.recording.saved",
        recording_urls={"mp3": "https://s3.example.com/r.mp3", "wav": None},
        recording_id="rec-1",
    ),
    _telnyx("call.hangup", hangup_cause="normal_clearing", sip_hangup_cause="200"),
    _telnyx("streaming.failed", failure_reason="connection_failed"),
]

# ---------------------------------------------------------------- local (both modes)


def _local(event: str, *, command: bool, **fields: Any) -> Seed:
    body = {"event": event, "call": "LC-properties"} | fields
    if command:
        return Seed(document=body | {"state": STATE})
    return Seed(_ours("gather" if event == "input" else "answer", turn="2"), document=body)


def _local_seeds(*, command: bool) -> list[Seed]:
    return [
        _local("started", command=command, direction="inbound", caller=CALLER, callee=OUR_NUMBER),
        _local("ringing", command=command),
        _local("answered", command=command, machine=False),
        _local("input", command=command, speech="yes", confidence=0.8, final=True),
        _local("input", command=command, digits="7", final=False),
        _local("no_input", command=command),
        _local("played", command=command),
        _local("fetch", command=command),
        _local("ended", command=command, reason="hangup-user"),
    ]


LOCAL_MARKUP = _local_seeds(command=False)
LOCAL_COMMAND = _local_seeds(command=True)

# ---------------------------------------------------------------- Acme


def _acme(type_: str, *, direction: str = "inbound", **data: Any) -> Seed:
    call = {"id": "ac_properties", "direction": direction, "from": CALLER, "to": OUR_NUMBER}
    return Seed(
        document={"id": "ev_0123", "type": type_, "call": call | {"client_state": STATE}, "data": data}
    )


ACME = [
    _acme("call.incoming"),
    _acme("call.answered", direction="outbound", answered_by="human"),
    _acme("call.answered"),
    _acme("call.ringing"),
    _acme("call.gather.ended", status="ok", speech="yes", confidence=0.9),
    _acme("call.gather.ended", status="ok", digits="12"),
    _acme("call.gather.ended", status="timeout"),
    _acme("call.speak.ended"),
    _acme("call.recording.saved", recording_url="https://acme.example/r.wav", duration_secs=3.5),
    _acme("call.hangup", cause="caller_hangup", duration_secs=12),
]

WEBHOOKS: dict[str, list[Seed]] = {
    "twilio": TWILIO,
    "telnyx": TELNYX,
    "plivo": PLIVO,
    "local-markup": LOCAL_MARKUP,
    "local-command": LOCAL_COMMAND,
    "acme": ACME,
}
"""Documented webhooks by carrier, named as the contract suite names its kits."""

# ---------------------------------------------------------------- media frames

SAMPLE_AUDIO = "f39/fn18fn18fn18fn18fn18fn18fn18fn18fn18fn18fn18fn18fn18"  # mu-law, base64
_PARAMS = {"callId": CALL_ID, "token": "tok-0123456789"}

MEDIA: dict[str, list[dict[str, Any]]] = {
    "twilio": [
        {"event": "connected", "protocol": "Call", "version": "1.0.0"},
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": "MZ" + "1" * 32,
            "start": {
                "accountSid": "AC" + "0" * 32,
                "streamSid": "MZ" + "1" * 32,
                "callSid": "CA" + "1" * 32,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": _PARAMS,
            },
        },
        {
            "event": "media",
            "sequenceNumber": "3",
            "streamSid": "MZ" + "1" * 32,
            "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": SAMPLE_AUDIO},
        },
        {"event": "dtmf", "streamSid": "MZ" + "1" * 32, "dtmf": {"track": "inbound_track", "digit": "1"}},
        {"event": "mark", "streamSid": "MZ" + "1" * 32, "mark": {"name": "u1"}},
        {"event": "stop", "streamSid": "MZ" + "1" * 32, "stop": {"callSid": "CA" + "1" * 32}},
    ],
    "telnyx": [
        {"event": "connected", "version": "1.0.0"},
        {
            "event": "start",
            "sequence_number": "1",
            "stream_id": "st-1",
            "start": {
                "user_id": "3E6F995F-85F7-4705-9741-53B116D28237",
                "call_control_id": "v3:properties-call-control-id",
                "client_state": STATE,
                "from": CALLER,
                "to": OUR_NUMBER,
                "custom_parameters": [{"name": k, "value": v} for k, v in _PARAMS.items()],
                "media_format": {"encoding": "PCMA", "sample_rate": "8000", "channels": 1},
            },
        },
        {
            "event": "media",
            "sequence_number": "4",
            "stream_id": "st-1",
            "media": {"track": "inbound", "chunk": "2", "timestamp": "5", "payload": SAMPLE_AUDIO},
        },
        {"event": "dtmf", "sequence_number": "5", "stream_id": "st-1", "dtmf": {"digit": "#"}},
        {"event": "mark", "sequence_number": "6", "stream_id": "st-1", "mark": {"name": "u1"}},
        {"event": "error", "sequence_number": "7", "payload": {"code": 100002, "title": "unknown_error"}},
        {"event": "stop", "sequence_number": "8", "stream_id": "st-1", "stop": {"reason": "hangup"}},
    ],
    "plivo": [
        {
            "event": "start",
            "sequenceNumber": 1,
            "start": {
                "callId": "eba53b9e-8fbd-45c1-9444-696d2172fbc8",
                "streamId": "87654321-4321-4321-4321-cba987654321",
                "accountId": "MA0123",
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
            },
            "extra_headers": "callId=call-0123456789;token=tok-0123456789",
        },
        {
            "event": "media",
            "sequenceNumber": 2,
            "streamId": "87654321-4321-4321-4321-cba987654321",
            "media": {"track": "inbound", "timestamp": "1705312200000", "chunk": 1, "payload": SAMPLE_AUDIO},
        },
        {"event": "dtmf", "sequenceNumber": 3, "dtmf": {"digit": "5", "track": "inbound", "timestamp": "1"}},
        {"event": "dtmf", "digit": "6"},
        {"event": "playedStream", "streamId": "87654321-4321-4321-4321-cba987654321", "name": "u1"},
        {"event": "played", "name": "u2"},
        {"event": "clearedAudio", "streamId": "87654321-4321-4321-4321-cba987654321"},
        {"event": "playFailed", "reason": "bad audio"},
        {"event": "stop", "sequenceNumber": 9},
    ],
    "local": [
        {"type": "hello", "call": "LC-properties", "stream": "LS-1", "params": _PARAMS},
        {"type": "audio", "pcmu": SAMPLE_AUDIO},
        {"type": "key", "digit": "3"},
        {"type": "played", "id": "u1"},
        {"type": "bye"},
    ],
    "acme": [
        {"event": "connected"},
        {
            "event": "start",
            "stream_id": "st-acme",
            "call_id": "ac_properties",
            "media_format": {
                "inbound": {"encoding": "PCMU", "sample_rate": 8000},
                "outbound": {"encoding": "L16", "sample_rate": 16000},
            },
            "custom_parameters": _PARAMS,
        },
        {"event": "media", "payload": SAMPLE_AUDIO, "timestamp": 20},
        {"event": "dtmf", "digit": "9"},
        {"event": "mark", "name": "u1"},
        {"event": "stop"},
    ],
}
"""Documented media frames by carrier (the local carrier's dialect is the same in both modes)."""
