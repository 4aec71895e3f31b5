"""Markup mode through the real app with real Twilio signatures: the seed bug cannot recur."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest
from twilio_helpers import (
    CALL_SID,
    WEBHOOK_URL,
    incoming_call,
    post_signed,
    twilio_app,
    twilio_config,
    twiml,
)

from telephony.store import CallRecord, MemoryCallStore, SqliteCallStore


def _gather_url(document: str) -> str:
    gather = twiml(document).find("Gather")
    assert gather is not None, document
    return gather.attrib["action"]


def test_incoming_call_is_greeted_with_say_inside_gather() -> None:
    with twilio_app(twilio_config()) as client:
        response = post_signed(client, WEBHOOK_URL, incoming_call())
    assert response.status_code == 200
    root = twiml(response.text)
    gather = root.find("Gather")
    assert gather is not None
    assert gather.attrib["input"] == "speech dtmf"
    assert gather.attrib["action"].startswith(WEBHOOK_URL + "?callId=")
    assert "kind=gather" in gather.attrib["action"]
    say = gather.find("Say")
    assert say is not None and say.text == "Hello! How can I help you today?"


def test_speech_result_is_answered_with_say_and_new_gather_never_pause() -> None:
    with twilio_app(twilio_config()) as client:
        action = _gather_url(post_signed(client, WEBHOOK_URL, incoming_call()).text)
        params = incoming_call() | {
            "CallStatus": "in-progress",
            "SpeechResult": "Hello this is a test",
            "Confidence": "0.9",
        }
        response = post_signed(client, action, params)
        calls = client.get("/api/calls").json()
    assert response.status_code == 200
    root = twiml(response.text)
    assert root.find(".//Pause") is None
    gather = root.find("Gather")
    assert gather is not None, response.text
    reply = gather.find("Say")
    assert reply is not None and reply.text
    transcript = calls[0]["transcript"]
    assert [t["speaker"] for t in transcript] == ["bot", "user", "bot"]
    assert transcript[1]["text"] == "Hello this is a test"
    assert transcript[2]["text"] == reply.text


def test_goodbye_ends_with_say_and_hangup() -> None:
    with twilio_app(twilio_config()) as client:
        action = _gather_url(post_signed(client, WEBHOOK_URL, incoming_call()).text)
        params = incoming_call() | {
            "CallStatus": "in-progress",
            "SpeechResult": "Goodbye",
            "Confidence": "0.8",
        }
        root = twiml(post_signed(client, action, params).text)
        state = client.get("/api/calls").json()[0]["state"]
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert state == "hangup-bot"


def test_silence_reprompts_then_says_goodbye() -> None:
    config = twilio_config(noInputRetries=1)
    with twilio_app(config) as client:
        action = _gather_url(post_signed(client, WEBHOOK_URL, incoming_call()).text)
        silent = incoming_call() | {"CallStatus": "in-progress"}
        first = twiml(post_signed(client, action, silent).text)
        second = twiml(
            post_signed(client, _gather_url(ElementTree.tostring(first, encoding="unicode")), silent).text
        )
    reprompt = first.find("Gather/Say")
    assert reprompt is not None and "didn't catch" in (reprompt.text or "")
    assert [child.tag for child in second] == ["Say", "Hangup"]


def test_identical_answers_on_successive_turns_are_not_mistaken_for_retries() -> None:
    with twilio_app(twilio_config(noInputRetries=1)) as client:
        action = _gather_url(post_signed(client, WEBHOOK_URL, incoming_call()).text)
        same = incoming_call() | {"SpeechResult": "yes", "Confidence": "0.9"}
        action = _gather_url(post_signed(client, action, same).text)
        action = _gather_url(post_signed(client, action, same).text)
        silent = incoming_call() | {"CallStatus": "in-progress"}
        action = _gather_url(post_signed(client, action, silent).text)
        last = twiml(post_signed(client, action, silent).text)
        transcript = client.get("/api/calls").json()[0]["transcript"]
    assert [t["text"] for t in transcript if t["speaker"] == "user"] == ["yes", "yes"]
    assert [child.tag for child in last] == ["Say", "Hangup"]


def test_dtmf_digits_are_a_user_turn() -> None:
    with twilio_app(twilio_config()) as client:
        action = _gather_url(post_signed(client, WEBHOOK_URL, incoming_call()).text)
        root = twiml(post_signed(client, action, incoming_call() | {"Digits": "1"}).text)
        transcript = client.get("/api/calls").json()[0]["transcript"]
    assert root.find("Gather/Say") is not None
    assert transcript[1]["text"] == "[keypad: 1]"


def test_retried_webhook_gets_the_same_answer_and_one_turn() -> None:
    with twilio_app(twilio_config()) as client:
        action = _gather_url(post_signed(client, WEBHOOK_URL, incoming_call()).text)
        params = incoming_call() | {"SpeechResult": "What time is it", "Confidence": "0.9"}
        first = post_signed(client, action, params)
        again = post_signed(client, action, params)
        transcript = client.get("/api/calls").json()[0]["transcript"]
    assert again.status_code == 200 and again.text == first.text
    assert len(transcript) == 3


def test_a_failed_webhook_is_handled_again_when_the_carrier_retries() -> None:
    class FlakyStore(MemoryCallStore):
        """Fails the first write of a caller's words, as a full disk or a lost database would."""

        failed = False

        async def save(self, record: CallRecord) -> None:
            if record.transcript and record.transcript[-1].speaker == "user" and not self.failed:
                self.failed = True
                raise OSError("disk full")
            await super().save(record)

    with twilio_app(twilio_config(), store=FlakyStore()) as client:
        action = _gather_url(post_signed(client, WEBHOOK_URL, incoming_call()).text)
        params = incoming_call() | {"SpeechResult": "Hello"}
        assert post_signed(client, action, params).status_code == 500
        retry = post_signed(client, action, params)
        transcript = client.get("/api/calls").json()[0]["transcript"]
    assert retry.status_code == 200 and twiml(retry.text).find("Gather/Say") is not None
    assert [t["text"] for t in transcript if t["speaker"] == "user"] == ["Hello"]


def test_status_callbacks_move_the_state_machine() -> None:
    with twilio_app(twilio_config()) as client:
        post_signed(client, WEBHOOK_URL, incoming_call())
        call = client.get("/api/calls").json()[0]
        status = WEBHOOK_URL + f"?callId={call['call_id']}&kind=status"
        post_signed(client, status, incoming_call() | {"CallStatus": "completed", "CallDuration": "42"})
        post_signed(client, status, incoming_call() | {"CallStatus": "ringing", "SequenceNumber": "9"})
        ended = client.get(f"/api/calls/{call['call_id']}").json()
    assert ended["state"] == "completed"
    assert ended["end_reason"] == "completed"


def test_inbound_policy_disabled_rejects_without_answering() -> None:
    with twilio_app(twilio_config(inboundPolicy="disabled")) as client:
        root = twiml(post_signed(client, WEBHOOK_URL, incoming_call()).text)
    assert [child.tag for child in root] == ["Reject"]


def test_allowlist_matches_exact_numbers_only() -> None:
    config = twilio_config(inboundPolicy="allowlist", allowFrom=["+14158675309"])
    with twilio_app(config) as client:
        allowed = twiml(post_signed(client, WEBHOOK_URL, incoming_call()).text)
        other = incoming_call(call_sid="CA" + "2" * 32, caller="+19998675309")
        refused = twiml(post_signed(client, WEBHOOK_URL, other).text)
    assert allowed.find("Gather") is not None
    assert [child.tag for child in refused] == ["Reject"]


def test_inbound_concurrency_limit_rejects_as_busy_naming_the_call_holding_the_slot(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="telephony")
    with twilio_app(twilio_config(maxConcurrentCalls=1)) as client:
        post_signed(client, WEBHOOK_URL, incoming_call())
        live = client.get("/api/calls").json()[0]["call_id"]
        second = twiml(post_signed(client, WEBHOOK_URL, incoming_call(call_sid="CA" + "3" * 32)).text)
    reject = second.find("Reject")
    assert reject is not None and reject.attrib["reason"] == "busy"
    assert (
        f"inbound call {'CA' + '3' * 32} refused as busy: maxConcurrentCalls (1) reached, "
        f"held by live call(s) {live}"
    ) in caplog.messages


def test_call_continues_with_its_transcript_after_restart(tmp_path: Path) -> None:
    config = twilio_config(store=str(tmp_path))
    with twilio_app(config, store=SqliteCallStore(tmp_path)) as client:
        action = _gather_url(post_signed(client, WEBHOOK_URL, incoming_call()).text)
        first = post_signed(client, action, incoming_call() | {"SpeechResult": "Hello this is a test"})
        action = _gather_url(first.text)
    with twilio_app(config, store=SqliteCallStore(tmp_path)) as client:
        response = post_signed(client, action, incoming_call() | {"SpeechResult": "What time is it"})
        calls = client.get("/api/calls").json()
    assert twiml(response.text).find("Gather/Say") is not None
    assert len(calls) == 1 and calls[0]["provider_call_id"] == CALL_SID
    said = [turn["text"] for turn in calls[0]["transcript"] if turn["speaker"] == "user"]
    assert said == ["Hello this is a test", "What time is it"]
