"""What the contract suite needs to know about each carrier, one kit per carrier.

A kit plays the carrier's side of one inbound call against the real app: it builds the config
section, signs webhooks the way the carrier does (and forges or tampers with them), makes the
carrier's "call started", "user said X" and "pressed digit D" webhooks, reads what the server
asked for (a markup body or the REST commands it sent), speaks the carrier's media dialect both
ways and mocks its REST API, including the answer that means "that call has already ended".

An outside adapter joins the suite by adding a kit to :data:`KITS`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.etree import ElementTree

import httpx
import respx
from acme_far_end import ACME_API, ACME_CREDENTIALS
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.testing import TestClient
from plivo_helpers import AUTH_ID as PLIVO_AUTH_ID
from plivo_helpers import AUTH_TOKEN as PLIVO_AUTH_TOKEN
from plivo_helpers import signed_headers as plivo_signed_headers
from telephony_acme import sign as acme_sign
from telnyx_helpers import API as TELNYX_API
from telnyx_helpers import envelope, telnyx_settings
from telnyx_helpers import signed_headers as telnyx_signed_headers
from twilio_helpers import ACCOUNT_SID
from twilio_helpers import AUTH_TOKEN as TWILIO_AUTH_TOKEN
from twilio_helpers import sign as twilio_sign

from telephony.adapters.local import LocalCarrier, signed_headers
from telephony.adapters.local._wire import MARKUP_DECODER
from telephony.config import Config, config_from_mapping
from telephony.providers import (
    Action,
    ClearAudio,
    ConnectStream,
    Gather,
    OutboundMedia,
    Say,
    SendAudio,
    SendMark,
)
from telephony.runtime import Runtime

CAPABILITIES = {
    "streams": "bidirectional media streams",
    "dtmf": "keys pressed by the caller",
}
"""What a kit may declare in ``lacks``, and how a skip names it."""

PUBLIC_URL = "https://voice.example.com"
WEBHOOK_URL = PUBLIC_URL + "/voice/webhook"
CALLER = "+14158675309"
OUR_NUMBER = "+18005551212"
LOCAL_SECRET = "contract-suite-secret"


@dataclass(frozen=True)
class Webhook:
    """One webhook as the carrier delivers it: where, what, and its (signature) headers."""

    url: str
    body: bytes
    headers: dict[str, str]

    def post(self, client: TestClient[Any]) -> Any:
        parts = urlsplit(self.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return client.post(path, content=self.body, headers=self.headers)


class CarrierKit(Protocol):
    """The carrier's side of one inbound call, for the contract suite."""

    name: str
    provider_call_id: str
    webhook_url: str
    """Where the carrier posts its webhooks (the app's public webhook URL)."""
    lacks: frozenset[str]
    """Capabilities (of :data:`CAPABILITIES`) the carrier genuinely does not have: skipped."""

    def config(self, **extra: Any) -> Config:
        """The app's config for this carrier: ``provider``, its section, the public URL."""
        ...

    def mock_api(self, router: respx.MockRouter) -> None:
        """Mock the carrier's REST API; hang-ups of an ended call answer "already ended"."""
        ...

    def bind(self, runtime: Runtime) -> None:
        """Watch ``runtime``'s carrier (simulated carriers keep their far end in the runtime)."""
        ...

    def call_started(self) -> Webhook:
        """The carrier's "a call is coming in" webhook for :attr:`provider_call_id`."""
        ...

    def heard(self, response: Any) -> list[str]:
        """What the server said in answer to a webhook (markup body or commands); remembers
        where the next gather result goes and any stream parameters."""
        ...

    def said(self, text: str) -> Webhook:
        """The caller said ``text`` in answer to the last gather."""
        ...

    def call_ended(self) -> Webhook:
        """The carrier's "the call is over" callback (status, hang-up) for :attr:`provider_call_id`."""
        ...

    def refusal(self, response: Any) -> str | None:
        """``reject`` or ``hangup`` when the server's answer to a webhook refuses or ends the call."""
        ...

    def pressed(self, digit: str) -> Webhook:
        """The caller pressed ``digit`` in answer to the last gather."""
        ...

    def moved(self, client: TestClient[Any]) -> list[str] | None:
        """What the server said on the live call outside any webhook, carried out as the carrier
        does (a markup carrier fetches the document its REST API was redirected to, a command
        carrier runs the commands up to its listening one); None while nothing has come."""
        ...

    def forged(self, hook: Webhook) -> Webhook:
        """``hook`` signed with the wrong key or secret."""
        ...

    def tampered(self, hook: Webhook) -> Webhook:
        """``hook``'s signature over a body that was changed after signing."""
        ...

    def stream_parameters(self) -> dict[str, str]:
        """The custom parameters of the stream the server last asked the carrier to open."""
        ...

    def stream_url(self) -> str:
        """The URL of the stream the server last asked the carrier to open."""
        ...

    def start_frame(self, parameters: dict[str, str]) -> str: ...

    def media_frame(self, audio: bytes) -> str: ...

    def mark_frame(self, name: str) -> str:
        """The carrier's acknowledgement that playback reached mark ``name``."""
        ...

    def dtmf_frame(self, digit: str) -> str: ...

    def read_frame(self, frame: str) -> OutboundMedia:
        """One of our frames back as what we meant: audio, a mark or a clear."""
        ...

    def hangups(self) -> int:
        """Hang-up requests the carrier has received."""
        ...

    def end_at_carrier(self) -> None:
        """The call ends at the carrier: a later hang-up is answered "already ended"."""
        ...


def _b64(audio: bytes) -> str:
    return base64.b64encode(audio).decode()


def _unb64(payload: str) -> bytes:
    return base64.b64decode(payload, validate=True)


def _flip(body: bytes, old: bytes, new: bytes) -> bytes:
    assert old in body, f"{old!r} not in {body[:200]!r}"
    return body.replace(old, new, 1)


# ---------------------------------------------------------------- markup carriers


class _FormMarkupKit:
    """Twilio and Plivo: signed form webhooks answered with XML; gathers post to their action URL."""

    name = ""
    provider_call_id = ""
    webhook_url = WEBHOOK_URL
    lacks: frozenset[str] = frozenset()
    gather_tag = ""

    def __init__(self) -> None:
        self.gather_url: str | None = None
        self.parameters: dict[str, str] = {}
        self.url: str | None = None
        self.hangup_route: respx.Route | None = None
        self.ended = False
        self.redirects: list[str] = []
        """The URLs the REST API was told to fetch the live call's next document from."""

    def bind(self, runtime: Runtime) -> None:
        pass

    def _base(self) -> dict[str, str]:
        raise NotImplementedError

    def _hook(self, url: str, params: dict[str, str]) -> Webhook:
        raise NotImplementedError

    def _params(self, hook: Webhook) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(hook.body.decode()).items()}

    def tampered(self, hook: Webhook) -> Webhook:
        params = self._params(hook) | {"From": "+19995550000"}
        return Webhook(hook.url, urlencode(params).encode(), hook.headers)

    def heard(self, response: Any) -> list[str]:
        assert response.status_code == 200, response.text
        said: list[str] = []
        for element in ElementTree.fromstring(response.text).iter():
            if element.tag in ("Say", "Speak"):
                said.append(element.text or "")
            elif element.tag == self.gather_tag:
                self.gather_url = element.attrib["action"]
            else:
                self._stream(element)
        return said

    def _stream(self, element: ElementTree.Element) -> None:
        raise NotImplementedError

    def refusal(self, response: Any) -> str | None:
        assert response.status_code == 200, response.text
        tags = [element.tag for element in ElementTree.fromstring(response.text).iter()]
        if "Reject" in tags:
            return "reject"
        # Plivo's reject is a <Hangup> with a reason.
        hangup = ElementTree.fromstring(response.text).find("Hangup")
        if hangup is not None:
            return "reject" if "reason" in hangup.attrib else "hangup"
        return None

    def stream_parameters(self) -> dict[str, str]:
        assert self.parameters, "the server asked for no stream"
        return self.parameters

    def moved(self, client: TestClient[Any]) -> list[str] | None:
        if not self.redirects:
            return None
        url = self.redirects.pop(0)
        assert url.startswith(self.webhook_url + "?"), "the next document is ours"
        return self.heard(self._hook(url, self._base() | self._fetch).post(client))

    _fetch: ClassVar[dict[str, str]] = {"CallStatus": "in-progress"}
    """The form of the carrier's fetch of the document it was redirected to (beside the call's)."""

    def stream_url(self) -> str:
        assert self.url, "the server asked for no stream"
        return self.url

    def hangups(self) -> int:
        assert self.hangup_route is not None
        return self.hangup_route.call_count

    def end_at_carrier(self) -> None:
        self.ended = True


class TwilioKit(_FormMarkupKit):
    name = "twilio"
    provider_call_id = "CA" + "c" * 32
    gather_tag = "Gather"

    def config(self, **extra: Any) -> Config:
        section = {"accountSid": ACCOUNT_SID, "authToken": TWILIO_AUTH_TOKEN}
        return _config("twilio", {"twilio": section}, extra)

    def mock_api(self, router: respx.MockRouter) -> None:
        calls = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls"
        self.hangup_route = router.post(f"{calls}/{self.provider_call_id}.json").mock(
            side_effect=self._update
        )

    def _update(self, request: httpx.Request) -> httpx.Response:
        form = {key: values[0] for key, values in parse_qs(request.content.decode()).items()}
        if "Url" in form:  # a live call's TwiML replaced by the document at Url
            assert form.get("Method") == "POST"
            self.redirects.append(form["Url"])
            self.redirected += 1
            return httpx.Response(200, json={"sid": self.provider_call_id, "status": "in-progress"})
        if self.ended:
            error = {"code": 20404, "message": "The requested resource was not found", "status": 404}
            return httpx.Response(404, json=error)
        self.ended = True
        return httpx.Response(200, json={"sid": self.provider_call_id, "status": "completed"})

    redirected = 0

    def hangups(self) -> int:
        return super().hangups() - self.redirected  # one Calls resource takes both updates

    def _base(self) -> dict[str, str]:
        return {
            "AccountSid": ACCOUNT_SID,
            "CallSid": self.provider_call_id,
            "From": CALLER,
            "To": OUR_NUMBER,
            "Direction": "inbound",
        }

    def _hook(self, url: str, params: dict[str, str], token: str = TWILIO_AUTH_TOKEN) -> Webhook:
        headers = {
            "X-Twilio-Signature": twilio_sign(url, params, token),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return Webhook(url, urlencode(params).encode(), headers)

    def call_started(self) -> Webhook:
        return self._hook(self.webhook_url, self._base() | {"CallStatus": "ringing"})

    def call_ended(self) -> Webhook:
        status = {"CallStatus": "completed", "CallDuration": "0", "CallbackSource": "call-progress-events"}
        return self._hook(self.webhook_url + "?kind=status", self._base() | status)

    def said(self, text: str) -> Webhook:
        assert self.gather_url, "the server opened no gather"
        result = {"CallStatus": "in-progress", "SpeechResult": text, "Confidence": "0.9"}
        return self._hook(self.gather_url, self._base() | result)

    def pressed(self, digit: str) -> Webhook:
        assert self.gather_url, "the server opened no gather"
        return self._hook(self.gather_url, self._base() | {"CallStatus": "in-progress", "Digits": digit})

    def forged(self, hook: Webhook) -> Webhook:
        return self._hook(hook.url, self._params(hook), token="not-the-auth-token")

    def _stream(self, element: ElementTree.Element) -> None:
        if element.tag == "Stream":
            self.url = element.attrib["url"]
            self.parameters = {p.attrib["name"]: p.attrib["value"] for p in element.iter("Parameter")}

    def start_frame(self, parameters: dict[str, str]) -> str:
        start = {
            "accountSid": ACCOUNT_SID,
            "streamSid": "MZ" + "1" * 32,
            "callSid": self.provider_call_id,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": parameters,
        }
        return json.dumps(
            {"event": "start", "sequenceNumber": "1", "streamSid": start["streamSid"], "start": start}
        )

    def media_frame(self, audio: bytes) -> str:
        media = {"track": "inbound", "chunk": "2", "timestamp": "5", "payload": _b64(audio)}
        return json.dumps({"event": "media", "streamSid": "MZ" + "1" * 32, "media": media})

    def mark_frame(self, name: str) -> str:
        return json.dumps({"event": "mark", "streamSid": "MZ" + "1" * 32, "mark": {"name": name}})

    def dtmf_frame(self, digit: str) -> str:
        dtmf = {"track": "inbound_track", "digit": digit}
        return json.dumps({"event": "dtmf", "streamSid": "MZ" + "1" * 32, "dtmf": dtmf})

    def read_frame(self, frame: str) -> OutboundMedia:
        message = json.loads(frame)
        assert message["streamSid"] == "MZ" + "1" * 32
        match message["event"]:
            case "media":
                return SendAudio(payload=_unb64(message["media"]["payload"]))
            case "mark":
                return SendMark(name=message["mark"]["name"])
            case "clear":
                return ClearAudio()
        raise AssertionError(f"not a Twilio frame: {frame}")


class PlivoKit(_FormMarkupKit):
    name = "plivo"
    provider_call_id = "eba53b9e-8fbd-45c1-9444-000000000001"
    gather_tag = "GetInput"
    stream_id = "87654321-4321-4321-4321-cba987654321"

    def config(self, **extra: Any) -> Config:
        return _config("plivo", {"plivo": {"authId": PLIVO_AUTH_ID, "authToken": PLIVO_AUTH_TOKEN}}, extra)

    def mock_api(self, router: respx.MockRouter) -> None:
        api = f"https://api.plivo.com/v1/Account/{PLIVO_AUTH_ID}"
        self.hangup_route = router.delete(f"{api}/Call/{self.provider_call_id}/").mock(
            side_effect=self._delete
        )
        router.delete(url__regex=rf"{api}/Request/[\w-]+/").mock(return_value=httpx.Response(404))
        router.post(f"{api}/Call/{self.provider_call_id}/").mock(side_effect=self._transfer)

    _fetch: ClassVar[dict[str, str]] = {"CallStatus": "in-progress", "Event": "Transfer"}

    def _transfer(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert (body["legs"], body["aleg_method"]) == ("aleg", "POST")
        self.redirects.append(body["aleg_url"])
        return httpx.Response(202, json={"message": "call transferred", "api_id": "a2"})

    def _delete(self, request: httpx.Request) -> httpx.Response:
        if self.ended:
            return httpx.Response(404, json={"error": "not found", "api_id": "a1"})
        self.ended = True
        return httpx.Response(204)

    def _base(self) -> dict[str, str]:
        plain = {"From": CALLER.removeprefix("+"), "To": OUR_NUMBER.removeprefix("+")}
        return {"CallUUID": self.provider_call_id, "Direction": "inbound"} | plain

    def _hook(self, url: str, params: dict[str, str], token: str = PLIVO_AUTH_TOKEN) -> Webhook:
        return Webhook(url, urlencode(params).encode(), plivo_signed_headers(url, params, token))

    def call_started(self) -> Webhook:
        return self._hook(self.webhook_url, self._base() | {"Event": "StartApp", "CallStatus": "ringing"})

    def call_ended(self) -> Webhook:
        hangup = {"Event": "Hangup", "CallStatus": "completed", "HangupCause": "NORMAL_CLEARING"}
        return self._hook(self.webhook_url + "?kind=status", self._base() | hangup | {"Duration": "0"})

    def said(self, text: str) -> Webhook:
        assert self.gather_url, "the server opened no gather"
        result = {"CallStatus": "in-progress", "InputType": "speech", "Speech": text}
        return self._hook(self.gather_url, self._base() | result | {"SpeechConfidenceScore": "0.9"})

    def pressed(self, digit: str) -> Webhook:
        assert self.gather_url, "the server opened no gather"
        result = {"CallStatus": "in-progress", "InputType": "dtmf", "Digits": digit}
        return self._hook(self.gather_url, self._base() | result)

    def forged(self, hook: Webhook) -> Webhook:
        return self._hook(hook.url, self._params(hook), token="not-the-auth-token")

    def _stream(self, element: ElementTree.Element) -> None:
        if element.tag == "Stream":
            self.url = element.text
            pairs = (item.split("=", 1) for item in element.attrib["extraHeaders"].split(","))
            self.parameters = {name: value for name, value in pairs}

    def start_frame(self, parameters: dict[str, str]) -> str:
        start = {
            "callId": self.provider_call_id,
            "streamId": self.stream_id,
            "accountId": PLIVO_AUTH_ID,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        }
        extra = ",".join(f"{name}={value}" for name, value in parameters.items())
        return json.dumps({"event": "start", "sequenceNumber": 1, "start": start, "extra_headers": extra})

    def media_frame(self, audio: bytes) -> str:
        media = {"track": "inbound", "timestamp": "1705312200000", "chunk": 1, "payload": _b64(audio)}
        return json.dumps({"event": "media", "sequenceNumber": 2, "streamId": self.stream_id, "media": media})

    def mark_frame(self, name: str) -> str:
        return json.dumps({"event": "playedStream", "streamId": self.stream_id, "name": name})

    def dtmf_frame(self, digit: str) -> str:
        dtmf = {"digit": digit, "track": "inbound", "timestamp": "1"}
        return json.dumps({"event": "dtmf", "sequenceNumber": 3, "streamId": self.stream_id, "dtmf": dtmf})

    def read_frame(self, frame: str) -> OutboundMedia:
        message = json.loads(frame)
        match message["event"]:
            case "playAudio":
                assert message["media"]["contentType"] == "audio/x-mulaw"
                return SendAudio(payload=_unb64(message["media"]["payload"]))
            case "checkpoint":
                assert message["streamId"] == self.stream_id
                return SendMark(name=message["name"])
            case "clearAudio":
                assert message["streamId"] == self.stream_id
                return ClearAudio()
        raise AssertionError(f"not a Plivo frame: {frame}")


# ---------------------------------------------------------------- command carriers


class _JsonCommandKit:
    """Telnyx and Acme: signed JSON events; actions arrive as REST commands carrying client state."""

    name = ""
    provider_call_id = ""
    webhook_url = WEBHOOK_URL
    lacks: frozenset[str] = frozenset()
    stream_id = "st_contract"

    def __init__(self) -> None:
        self.state: str | None = None
        self.parameters: dict[str, str] = {}
        self.url: str | None = None
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.seen = 0
        self.ended = False

    def bind(self, runtime: Runtime) -> None:
        pass

    def _record(self, request: httpx.Request, name: str) -> httpx.Response:
        self.commands.append((name, json.loads(request.content or b"{}")))
        if name == "hangup":
            if self.ended:
                return self._already_ended()
            self.ended = True
        return httpx.Response(200, json={"data": {"result": "ok"}})

    def _already_ended(self) -> httpx.Response:
        raise NotImplementedError

    listening_command = ""
    """The last command of a gather on this carrier: the one that starts listening."""

    def heard(self, response: Any) -> list[str]:
        assert response.status_code == 200, response.text
        assert response.content == b"", "a command carrier's webhook answer carries nothing"
        return self._carried_out()

    def moved(self, client: TestClient[Any]) -> list[str] | None:
        if self.listening_command not in (name for name, _ in self.commands[self.seen :]):
            return None
        return self._carried_out()

    def _carried_out(self) -> list[str]:
        said: list[str] = []
        for name, body in self.commands[self.seen :]:
            self.state = body.get("client_state") or self.state
            said.extend(self._said(name, body))
            if name == "streaming_start":
                self.url = body["stream_url"]
                self.parameters = self._parameters(body["custom_parameters"])
        self.seen = len(self.commands)
        return said

    def _said(self, name: str, body: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def _parameters(self, parameters: Any) -> dict[str, str]:
        raise NotImplementedError

    def stream_parameters(self) -> dict[str, str]:
        assert self.parameters, "the server asked for no stream"
        return self.parameters

    def stream_url(self) -> str:
        assert self.url, "the server asked for no stream"
        return self.url

    def refusal(self, response: Any) -> str | None:
        assert response.status_code == 200, response.text
        names = [name for name, _ in self.commands[self.seen :]]
        self.seen = len(self.commands)
        return next((name for name in names if name in ("reject", "hangup")), None)

    def hangups(self) -> int:
        return sum(1 for name, _ in self.commands if name == "hangup")

    def end_at_carrier(self) -> None:
        self.ended = True


class TelnyxKit(_JsonCommandKit):
    name = "telnyx"
    provider_call_id = "v3:contract-suite-call-control-id"
    listening_command = "transcription_start"

    def config(self, **extra: Any) -> Config:
        return _config("telnyx", {"telnyx": telnyx_settings()}, extra)

    def mock_api(self, router: respx.MockRouter) -> None:
        pattern = rf"^{re.escape(TELNYX_API)}/calls/{re.escape(self.provider_call_id)}/actions/(?P<name>\w+)$"
        router.post(url__regex=pattern).mock(side_effect=self._record)

    def _already_ended(self) -> httpx.Response:
        return httpx.Response(422, json={"errors": [{"code": "90018", "title": "Call has already ended"}]})

    def _event(self, event_type: str, key: Ed25519PrivateKey | None = None, **fields: Any) -> Webhook:
        payload = {"call_control_id": self.provider_call_id, "from": CALLER, "to": OUR_NUMBER} | fields
        if self.state:
            payload["client_state"] = self.state
        body = envelope(event_type, payload)
        headers = telnyx_signed_headers(body) if key is None else telnyx_signed_headers(body, key=key)
        return Webhook(self.webhook_url, body, headers)

    def call_started(self) -> Webhook:
        return self._event("call.initiated", direction="incoming", state="parked")

    def call_ended(self) -> Webhook:
        return self._event("call.hangup", hangup_cause="normal_clearing", hangup_source="caller")

    def said(self, text: str) -> Webhook:
        data = {"transcript": text, "is_final": True, "confidence": 0.9}
        return self._event("call.transcription", transcription_data=data)

    def pressed(self, digit: str) -> Webhook:
        return self._event("call.dtmf.received", digit=digit)

    def forged(self, hook: Webhook) -> Webhook:
        headers = telnyx_signed_headers(hook.body, key=Ed25519PrivateKey.generate())
        return Webhook(hook.url, hook.body, headers)

    def tampered(self, hook: Webhook) -> Webhook:
        return Webhook(hook.url, _flip(hook.body, CALLER.encode(), b"+19995550000"), hook.headers)

    def _said(self, name: str, body: dict[str, Any]) -> list[str]:
        return [body["payload"]] if name == "speak" else []

    def _parameters(self, parameters: Any) -> dict[str, str]:
        return {item["name"]: item["value"] for item in parameters}

    def start_frame(self, parameters: dict[str, str]) -> str:
        start = {
            "user_id": "3E6F995F-85F7-4705-9741-53B116D28237",
            "call_control_id": self.provider_call_id,
            "from": CALLER,
            "to": OUR_NUMBER,
            "custom_parameters": parameters,
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
        }
        return json.dumps(
            {"event": "start", "sequence_number": "1", "stream_id": self.stream_id, "start": start}
        )

    def media_frame(self, audio: bytes) -> str:
        media = {"track": "inbound", "chunk": "2", "timestamp": "5", "payload": _b64(audio)}
        return json.dumps(
            {"event": "media", "sequence_number": "2", "stream_id": self.stream_id, "media": media}
        )

    def mark_frame(self, name: str) -> str:
        return json.dumps(
            {"event": "mark", "sequence_number": "3", "stream_id": self.stream_id, "mark": {"name": name}}
        )

    def dtmf_frame(self, digit: str) -> str:
        return json.dumps(
            {"event": "dtmf", "sequence_number": "4", "stream_id": self.stream_id, "dtmf": {"digit": digit}}
        )

    def read_frame(self, frame: str) -> OutboundMedia:
        message = json.loads(frame)
        match message["event"]:
            case "media":
                return SendAudio(payload=_unb64(message["media"]["payload"]))
            case "mark":
                return SendMark(name=message["mark"]["name"])
            case "clear":
                return ClearAudio()
        raise AssertionError(f"not a Telnyx frame: {frame}")


class AcmeKit(_JsonCommandKit):
    """Acme, the outside example adapter (``examples/acme``), found by its entry point."""

    name = "acme"
    provider_call_id = "ac_contract"
    listening_command = "gather"

    def config(self, **extra: Any) -> Config:
        return _config("acme", {"acme": dict(ACME_CREDENTIALS)}, extra)

    def mock_api(self, router: respx.MockRouter) -> None:
        pattern = rf"^{re.escape(ACME_API)}/calls/{self.provider_call_id}/actions/(?P<name>\w+)$"
        router.post(url__regex=pattern).mock(side_effect=self._record)

    def _already_ended(self) -> httpx.Response:
        return httpx.Response(422, json={"error": {"code": "call_ended"}})

    def _event(self, type_: str, *, secret: str = ACME_CREDENTIALS["webhookSecret"], **data: Any) -> Webhook:
        call = {"id": self.provider_call_id, "direction": "inbound", "from": CALLER, "to": OUR_NUMBER}
        call["client_state"] = self.state or ""
        body = json.dumps(
            {"id": "ev_" + secrets.token_hex(8), "type": type_, "call": call, "data": data}
        ).encode()
        return self._signed(body, secret)

    def _signed(self, body: bytes, secret: str) -> Webhook:
        timestamp = int(time.time())
        header = f"t={timestamp},v1={acme_sign(secret, timestamp, body)}"
        return Webhook(self.webhook_url, body, {"Acme-Signature": header, "Content-Type": "application/json"})

    def call_started(self) -> Webhook:
        return self._event("call.incoming")

    def call_ended(self) -> Webhook:
        return self._event("call.hangup", cause="normal_clearing", duration_secs=0)

    def said(self, text: str) -> Webhook:
        return self._event("call.gather.ended", status="ok", speech=text, confidence=0.9)

    def pressed(self, digit: str) -> Webhook:
        return self._event("call.gather.ended", status="ok", digits=digit)

    def forged(self, hook: Webhook) -> Webhook:
        return self._signed(hook.body, "not-the-webhook-secret")

    def tampered(self, hook: Webhook) -> Webhook:
        return Webhook(hook.url, _flip(hook.body, CALLER.encode(), b"+19995550000"), hook.headers)

    def _said(self, name: str, body: dict[str, Any]) -> list[str]:
        if name == "speak":
            return [body["text"]]
        if name == "gather":
            return [item["say"]["text"] for item in body["prompt"] if "say" in item]
        return []

    def _parameters(self, parameters: Any) -> dict[str, str]:
        return dict(parameters)

    def start_frame(self, parameters: dict[str, str]) -> str:
        start = {
            "event": "start",
            "stream_id": self.stream_id,
            "call_id": self.provider_call_id,
            "media_format": {"inbound": {"encoding": "PCMU", "sample_rate": 8000}},
            "custom_parameters": parameters,
        }
        return json.dumps(start)

    def media_frame(self, audio: bytes) -> str:
        return json.dumps({"event": "media", "payload": _b64(audio), "timestamp": 20})

    def mark_frame(self, name: str) -> str:
        return json.dumps({"event": "mark", "name": name})

    def dtmf_frame(self, digit: str) -> str:
        return json.dumps({"event": "dtmf", "digit": digit})

    def read_frame(self, frame: str) -> OutboundMedia:
        message = json.loads(frame)
        assert message["stream_id"] == self.stream_id
        match message["event"]:
            case "media":
                return SendAudio(payload=_unb64(message["payload"]))
            case "mark":
                return SendMark(name=message["name"])
            case "clear":
                return ClearAudio()
        raise AssertionError(f"not an Acme frame: {frame}")


# ---------------------------------------------------------------- the simulated carrier


class LocalKit:
    """The local carrier in one of its modes: markup answers, or commands with client state."""

    provider_call_id = "LC-contract"
    webhook_url = WEBHOOK_URL
    lacks: frozenset[str] = frozenset()
    stream_id = "LS-contract"

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.name = f"local-{mode}"
        self.gather: Gather | None = None
        self.parameters: dict[str, str] = {}
        self.url: str | None = None
        self.hung_up = 0
        self.carrier: LocalCarrier | None = None
        self.redirects: list[str] = []

    def config(self, **extra: Any) -> Config:
        section = {"local": {"secret": LOCAL_SECRET, "mode": self.mode}}
        return _config("local", {"carriers": section}, extra)

    def mock_api(self, router: respx.MockRouter) -> None:
        pass  # the local carrier's "REST API" is in process; bind() watches it

    def bind(self, runtime: Runtime) -> None:
        carrier = runtime.carrier
        assert isinstance(carrier, LocalCarrier)
        self.carrier = carrier
        control = carrier.control
        real: Callable[..., Any] = control.hangup

        async def counted(call: Any) -> None:
            self.hung_up += 1
            await real(call)

        control.hangup = counted  # type: ignore[method-assign]

        async def redirected(call: Any, url: str) -> None:
            self.redirects.append(url)  # this kit is the far end: moved() fetches the URL

        control.redirect = redirected  # type: ignore[method-assign]

    def _hook(self, url: str, body: dict[str, Any], secret: str = LOCAL_SECRET) -> Webhook:
        payload = json.dumps(body).encode()
        return Webhook(url, payload, signed_headers(secret, url, payload))

    def call_started(self) -> Webhook:
        started = {"event": "started", "call": self.provider_call_id, "direction": "inbound"}
        return self._hook(self.webhook_url, started | {"caller": CALLER, "callee": OUR_NUMBER})

    def heard(self, response: Any) -> list[str]:
        assert response.status_code == 200, response.text
        actions: list[Action]
        if self.mode == "markup":
            actions = list(MARKUP_DECODER.decode(response.content).actions)
        else:
            assert response.content == b"", "a command carrier's webhook answer carries nothing"
            assert self.carrier is not None
            actions = self.carrier.simulator.received.pop(self.provider_call_id, [])
        return self._said(actions)

    def _said(self, actions: list[Action]) -> list[str]:
        said: list[str] = []
        for action in actions:
            match action:
                case Gather(prompt=prompt):
                    self.gather = action
                    said.extend(getattr(item, "text", "") for item in prompt)
                case ConnectStream(url=url, parameters=parameters):
                    self.url = url
                    self.parameters = dict(parameters)
                case Say(text=text):
                    said.append(text)
        return said

    def moved(self, client: TestClient[Any]) -> list[str] | None:
        if self.mode == "markup":
            if not self.redirects:
                return None
            fetch = {"event": "fetch", "call": self.provider_call_id}
            return self.heard(self._hook(self.redirects.pop(0), fetch).post(client))
        assert self.carrier is not None
        if not self.carrier.simulator.received.get(self.provider_call_id):
            return None
        return self._said(self.carrier.simulator.received.pop(self.provider_call_id))

    def call_ended(self) -> Webhook:
        return self._hook(
            self.webhook_url, {"event": "ended", "call": self.provider_call_id, "reason": "completed"}
        )

    def refusal(self, response: Any) -> str | None:
        assert response.status_code == 200, response.text
        if self.mode == "markup":
            actions: list[Action] = list(MARKUP_DECODER.decode(response.content).actions)
        else:
            assert self.carrier is not None
            actions = self.carrier.simulator.received.pop(self.provider_call_id, [])
        kinds = [type(action).__name__.lower() for action in actions]
        return next((kind for kind in kinds if kind in ("reject", "hangup")), None)

    def _input(self, fields: dict[str, Any]) -> Webhook:
        assert self.gather is not None, "the server opened no gather"
        body = {"event": "input", "call": self.provider_call_id} | fields
        if self.mode == "markup":
            return self._hook(self.gather.action_url, body)
        assert self.gather.callback is not None
        return self._hook(self.webhook_url, body | {"state": self.gather.callback.client_state()})

    def said(self, text: str) -> Webhook:
        return self._input({"speech": text})

    def pressed(self, digit: str) -> Webhook:
        return self._input({"digits": digit})

    def forged(self, hook: Webhook) -> Webhook:
        return self._hook(hook.url, json.loads(hook.body), secret="not-the-secret")

    def tampered(self, hook: Webhook) -> Webhook:
        return Webhook(hook.url, _flip(hook.body, CALLER.encode(), b"+19995550000"), hook.headers)

    def stream_parameters(self) -> dict[str, str]:
        assert self.parameters, "the server asked for no stream"
        return self.parameters

    def stream_url(self) -> str:
        assert self.url, "the server asked for no stream"
        return self.url

    def start_frame(self, parameters: dict[str, str]) -> str:
        hello = {"type": "hello", "call": self.provider_call_id, "stream": self.stream_id}
        return json.dumps(hello | {"params": parameters})

    def media_frame(self, audio: bytes) -> str:
        return json.dumps({"type": "audio", "pcmu": _b64(audio)})

    def mark_frame(self, name: str) -> str:
        return json.dumps({"type": "played", "id": name})

    def dtmf_frame(self, digit: str) -> str:
        return json.dumps({"type": "key", "digit": digit})

    def read_frame(self, frame: str) -> OutboundMedia:
        message = json.loads(frame)
        assert message["stream"] == self.stream_id
        match message["type"]:
            case "play":
                return SendAudio(payload=_unb64(message["pcmu"]))
            case "marker":
                return SendMark(name=message["id"])
            case "flush":
                return ClearAudio()
        raise AssertionError(f"not a local frame: {frame}")

    def hangups(self) -> int:
        return self.hung_up

    def end_at_carrier(self) -> None:
        assert self.carrier is not None  # the local carrier's own "ended": it has hung the call up
        self.carrier.control.hung_up.add(self.provider_call_id)


def _config(provider: str, sections: dict[str, Any], extra: dict[str, Any]) -> Config:
    data: dict[str, Any] = {
        "provider": provider,
        "fromNumber": OUR_NUMBER,
        "publicUrl": PUBLIC_URL,
        "inboundPolicy": "open",
        "agent": "builtin",
    }
    return config_from_mapping(data | sections | extra, env={})


KITS: dict[str, Callable[[], CarrierKit]] = {
    "twilio": TwilioKit,
    "telnyx": TelnyxKit,
    "plivo": PlivoKit,
    "local-markup": lambda: LocalKit("markup"),
    "local-command": lambda: LocalKit("command"),
    "acme": AcmeKit,
}
"""Every registered carrier's kit, by the name the tests are parametrized with."""
