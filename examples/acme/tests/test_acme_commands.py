from __future__ import annotations

import httpx
import pytest
import respx
from telephony.providers import (
    Answer,
    CallControlError,
    CallIdentity,
    CallRef,
    ConnectStream,
    DialCallbacks,
    Gather,
    Hangup,
    Pause,
    Reject,
    ReplyContext,
    Say,
)

from telephony_acme import create_carrier

from .acme_testing import API, CONTEXT, SECRET, SETTINGS, URL, hook, sent, signed

CALL = CallRef(call_id="c1", provider_call_id="ac_1")


async def test_identity_round_trips_through_client_state(acme_api: respx.MockRouter) -> None:
    carrier = create_carrier(SETTINGS, CONTEXT)
    callback = CallIdentity(call_id="c1", kind="gather", turn=1)
    gather = Gather(action_url=URL, callback=callback, prompt=(Say(text="Hello!"),), hints=("yes",))
    reply = await carrier.responder.respond(ReplyContext(call=CALL, must_answer=True), [Answer(), gather])
    assert reply.status == 200 and reply.body == b""
    (_, answered), (_, listen) = [sent(call.request) for call in acme_api.calls]
    assert [call.request.url.path for call in acme_api.calls] == [
        "/v1/calls/ac_1/actions/answer",
        "/v1/calls/ac_1/actions/gather",
    ]
    assert acme_api.calls.last.request.headers["authorization"] == "Bearer k"
    assert listen["prompt"] == [{"say": {"text": "Hello!", "voice": "female-1", "language": "en-US"}}]
    assert listen["input"] == ["speech", "dtmf"] and listen["hints"] == ["yes"]
    # The gather's result and the call's other events come back naming our call.
    result = carrier.parser.parse(
        signed(hook("call.gather.ended", state=listen["client_state"], status="timeout"))
    )
    assert result is not None and (result.call_id, result.turn) == ("c1", 1)
    status = carrier.parser.parse(signed(hook("call.answered", state=answered["client_state"])))
    assert status is not None and (status.call_id, status.turn) == ("c1", None)
    await carrier.control.aclose()


async def test_a_hangup_after_speech_is_left_to_the_engine(acme_api: respx.MockRouter) -> None:
    carrier = create_carrier(SETTINGS, CONTEXT)
    await carrier.responder.respond(ReplyContext(call=CALL), [Say(text="Bye!"), Hangup(after_playback=True)])
    assert [sent(call.request)[0] for call in acme_api.calls] == ["speak"]
    await carrier.responder.respond(ReplyContext(call=CALL), [Hangup(after_playback=True)])
    assert sent(acme_api.calls.last.request)[0] == "hangup"  # nothing to wait for: hang up now
    await carrier.control.aclose()


async def test_reject_and_stream_commands(acme_api: respx.MockRouter) -> None:
    carrier = create_carrier(SETTINGS, CONTEXT)
    await carrier.responder.respond(ReplyContext(call=CALL, must_answer=True), [Reject(reason="busy")])
    stream = ConnectStream(
        url="wss://voice.example.com/voice/stream", parameters={"token": "t", "callId": "c1"}
    )
    await carrier.responder.respond(ReplyContext(call=CALL), [stream])
    commands = [sent(call.request) for call in acme_api.calls]
    assert commands == [
        ("reject", {"cause": "busy"}),
        ("streaming_start", {"stream_url": stream.url, "custom_parameters": {"token": "t", "callId": "c1"}}),
    ]
    await carrier.control.aclose()


async def test_an_action_acme_cannot_carry_out_fails_loudly(acme_api: respx.MockRouter) -> None:
    carrier = create_carrier(SETTINGS, CONTEXT)
    with pytest.raises(CallControlError, match="Pause"):
        await carrier.responder.respond(ReplyContext(call=CALL), [Pause(seconds=1)])
    await carrier.control.aclose()


async def test_place_call_sends_the_identity_and_callbacks(acme_api: respx.MockRouter) -> None:
    carrier = create_carrier(SETTINGS, CONTEXT)
    identity = CallIdentity(call_id="c2", kind="answer")
    callbacks = DialCallbacks(
        answer_url=URL, status_url=f"{URL}?kind=status", identity=identity, ring_timeout_seconds=300
    )
    call = CallRef(call_id="c2", from_number="+15005550006", to_number="+14155550100")
    placed = await carrier.control.place_call(call, callbacks)
    assert placed.provider_call_id == "ac_out" and placed.status == "queued" and not placed.provisional
    body = sent(acme_api.calls.last.request)[1]
    assert CallIdentity.from_client_state(body["client_state"]) == identity
    assert (body["to"], body["from"], body["webhook_url"]) == (
        "+14155550100",
        "+15005550006",
        f"{URL}?kind=status",
    )
    assert body["timeout_secs"] == 120  # clamped to what Acme accepts
    await carrier.control.aclose()


async def test_hanging_up_an_ended_call_succeeds(no_network: respx.MockRouter) -> None:
    carrier = create_carrier(SETTINGS, CONTEXT)
    hangup = no_network.post(f"{API}/calls/ac_1/actions/hangup")
    hangup.respond(422, json={"error": {"code": "call_ended"}})
    await carrier.control.hangup(CALL)  # already ended: success
    hangup.respond(404, json={"error": {"code": "call_not_found"}})
    await carrier.control.hangup(CALL)  # gone: success
    hangup.respond(500)
    with pytest.raises(CallControlError) as failed:
        await carrier.control.hangup(CALL)
    assert failed.value.status == 500
    hangup.mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(CallControlError, match="cannot reach"):
        await carrier.control.hangup(CALL)
    await carrier.control.aclose()


async def test_a_call_without_an_acme_id_cannot_be_commanded(acme_api: respx.MockRouter) -> None:
    carrier = create_carrier(SETTINGS, CONTEXT)
    with pytest.raises(CallControlError, match="no Acme call id"):
        await carrier.control.hangup(CallRef(call_id="c3"))
    with pytest.raises(CallControlError, match="never redirects"):
        await carrier.control.redirect(CALL, URL)
    assert not acme_api.calls
    await carrier.control.aclose()


def test_secret_is_checked_by_the_carrier_too() -> None:
    carrier = create_carrier(SETTINGS, CONTEXT)
    assert carrier.name == "acme" and carrier.capabilities.commands and carrier.capabilities.reports_silence
    carrier.verifier.verify(signed(hook("call.incoming"), secret=SECRET))
