"""The call state machine: forward moves, talking alternation, absorbing terminals."""

from __future__ import annotations

import logging
from typing import get_args

import msgspec
import pytest

from telephony.states import ACTIVE_STATES, FLOW, TERMINAL_STATES, CallState, next_state
from telephony.store.base import CallRecord, decode_record, encode_record


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        ("initiated", "ringing", "ringing"),
        ("ringing", "answered", "answered"),
        ("answered", "ringing", "answered"),
        ("speaking", "listening", "listening"),
        ("listening", "speaking", "speaking"),
        ("listening", "completed", "completed"),
        ("completed", "answered", "completed"),
        ("hangup-bot", "completed", "hangup-bot"),
        ("ringing", "ringing", "ringing"),
    ],
)
def test_transitions(current: str, target: str, expected: str) -> None:
    assert next_state(current, target) == expected


def test_out_of_order_move_is_logged_not_silent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "telephony.states")
    assert next_state("answered", "ringing", call_id="c1") == "answered"
    assert "c1" in caplog.text and "out-of-order" in caplog.text


def test_unknown_state_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown call state"):
        next_state("ringing", "dancing")


def test_states_are_a_typed_enumeration_with_the_stored_values() -> None:
    from telephony.providers import EndReason

    assert [state.value for state in CallState] == [
        "initiated", "ringing", "answered", "active", "speaking", "listening",
        "completed", "busy", "no-answer", "failed", "hangup-user", "hangup-bot", "timeout", "error",
        "voicemail",
    ]  # fmt: skip
    assert {state.value for state in TERMINAL_STATES} == set(get_args(EndReason))
    assert set(FLOW) == ACTIVE_STATES and not ACTIVE_STATES & TERMINAL_STATES
    assert isinstance(next_state("ringing", "answered"), CallState)


def test_records_store_and_load_the_same_strings_as_before() -> None:
    record = CallRecord(call_id="c1", provider="local", direction="inbound", created_at=1.0)
    assert record.state is CallState.INITIATED
    record.state = CallState.NO_ANSWER
    data = encode_record(record)
    assert b'"state":"no-answer"' in data
    assert msgspec.json.decode(data)["state"] == "no-answer"
    loaded = decode_record(data)
    assert loaded.state is CallState.NO_ANSWER and loaded.terminal
    with pytest.raises(msgspec.ValidationError, match="state"):
        decode_record(data.replace(b'"no-answer"', b'"dancing"'))
