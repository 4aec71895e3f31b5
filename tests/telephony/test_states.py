"""The call state machine: forward moves, talking alternation, absorbing terminals."""

from __future__ import annotations

import logging

import pytest

from telephony.states import next_state


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
