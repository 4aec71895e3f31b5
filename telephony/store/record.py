"""The call record: everything remembered about one call, and its one serialized form.

Apart from the storage contract (:mod:`.base`) so that what builds on records (write batches)
and what stores them import it without importing each other.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

from telephony.providers import Action, Turn

from ..states import TERMINAL_STATES, CallState

__all__ = ["CallRecord", "Thinking", "decode_record", "encode_record"]


class Thinking(msgspec.Struct, frozen=True, kw_only=True):
    """A caller's turn whose reply the agent was still working on when its webhook was answered.

    Stored with the record, so the carrier's fetch of the reply waits for it on any instance,
    and a note left behind by a process that died is recognised as stale by its age.

    Attributes:
        event_id: The webhook that brought the caller's words.
        turn: The record's ``gather_turn`` then: the reply answers that turn.
        started_at: When the caller's words arrived (wall clock, like every record timestamp).
    """

    event_id: str
    turn: int
    started_at: float


class CallRecord(msgspec.Struct, kw_only=True):
    """Everything the framework remembers about one call.

    Records returned by a store are private copies: mutate one freely, then :meth:`CallStore.save`
    it. Timestamps are wall-clock seconds (``time.time``) because they must survive restarts.

    Attributes:
        call_id: Our own id, chosen before the carrier knows about the call.
        provider: The carrier adapter's name (``"twilio"``, ``"local"``).
        provider_call_id: The carrier's id, known once the call is placed or arrives.
        mode: ``"conversation"`` talks with an agent; ``"notify"`` speaks ``message`` and hangs up.
        media: ``"markup"`` drives the call with webhook answers; ``"stream"`` uses a media socket.
        message: The notify text, or the conversation's purpose or first line.
        end_reason: Why the call ended, once terminal.
        no_input_count: Consecutive gathers that heard nothing, for the give-up rule.
        transcript: Every turn so far, oldest first.
        provisional_id: ``provider_call_id`` is a request id the carrier's callbacks will not
            carry; the first callback naming this call replaces it with the real one.
        answered_by: ``human`` or ``machine`` when the carrier detected it.
        gather_turn: The newest listening turn handed out; results of older turns are stale.
        turn_count: Caller turns answered by the agent.
        last_turn_latency_ms: From the caller's words to the agent's reply, last turn.
        barge_ins: Times the caller interrupted the bot (stream mode).
        recordings: URLs of finished recordings.
        pending: Actions queued for a live markup call, served when the carrier fetches them.
        heard_event: The webhook whose caller words were stored last, so its retry after a
            crash does not store them twice.
        thinking: The turn the agent is answering after its webhook was given the holding
            line, or None.
        pending_fetches: Pending-action URLs handed out so far; each carries the next number, so
            no fetch is taken for a carrier's retry of an earlier one.
        metadata: Free-form JSON-serializable extras from the API caller.
    """

    call_id: str
    provider: str
    direction: Literal["inbound", "outbound"]
    state: CallState = CallState.INITIATED
    provider_call_id: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    mode: Literal["conversation", "notify"] = "conversation"
    media: Literal["markup", "stream"] = "markup"
    message: str | None = None
    created_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None
    no_input_count: int = 0
    transcript: list[Turn] = msgspec.field(default_factory=list)
    provisional_id: bool = False
    answered_by: str | None = None
    gather_turn: int = 0
    turn_count: int = 0
    last_turn_latency_ms: float | None = None
    barge_ins: int = 0
    recordings: list[str] = msgspec.field(default_factory=list)
    pending: list[Action] = msgspec.field(default_factory=list)
    heard_event: str | None = None
    thinking: Thinking | None = None
    pending_fetches: int = 0
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        """True once the call has ended, whatever the reason."""
        return self.state in TERMINAL_STATES


_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(CallRecord)


def encode_record(record: CallRecord) -> bytes:
    """Serialize a record; backends share this so they round-trip values identically."""
    return _ENCODER.encode(record)


def decode_record(data: bytes | str) -> CallRecord:
    """Deserialize and validate a record written by :func:`encode_record`."""
    return _DECODER.decode(data)
