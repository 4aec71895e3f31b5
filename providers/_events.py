"""Normalized call events: what every carrier's webhook means, in one vocabulary.

A webhook parser turns a carrier request into exactly one of these. The engine never sees
carrier field names.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Direction = Literal["inbound", "outbound"]
AnsweredBy = Literal["human", "machine", "fax", "unknown"]
EndReason = Literal[
    "completed",
    "busy",
    "no-answer",
    "failed",
    "hangup-user",
    "hangup-bot",
    "timeout",
    "error",
    "voicemail",
]


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Fields every event carries.

    Attributes:
        provider_call_id: The carrier's id for the call (Twilio ``CallSid``).
        event_id: A stable identity for deduplication: a carrier retry of the same webhook
            yields the same id.
        call_id: Our own call id when the carrier echoes it back (we put it in callback URLs).
        turn: The listening turn a result answers, echoed back from its :class:`CallIdentity`;
            the engine drops a result whose turn has passed.
        expects_reply: True when the carrier waits for instructions in the HTTP answer
            (a voice URL or gather action); False for fire-and-forget status callbacks.
    """

    provider_call_id: str
    event_id: str
    call_id: str | None = None
    turn: int | None = None
    expects_reply: bool = False


class CallStarted(_Event, frozen=True, kw_only=True, tag="call.started"):
    """The carrier asks what to do with a call that is now connected (or ringing inbound)."""

    direction: Direction
    from_number: str
    to_number: str
    answered_by: AnsweredBy | None = None


class CallInitiated(_Event, frozen=True, kw_only=True, tag="call.initiated"):
    """The carrier accepted an outbound call and is dialing."""


class CallRinging(_Event, frozen=True, kw_only=True, tag="call.ringing"):
    """The far end is ringing."""


class CallAnswered(_Event, frozen=True, kw_only=True, tag="call.answered"):
    """The far end picked up; ``answered_by`` comes from machine detection when enabled."""

    answered_by: AnsweredBy | None = None


class UserInput(_Event, frozen=True, kw_only=True, tag="call.input"):
    """The caller said or keyed something (a gather result or a carrier transcription)."""

    speech: str | None = None
    confidence: float | None = None
    digits: str | None = None
    final: bool = True


class NoInput(_Event, frozen=True, kw_only=True, tag="call.no_input"):
    """A gather ended with nothing heard or pressed."""


class InstructionsRequested(_Event, frozen=True, kw_only=True, tag="call.instructions"):
    """The carrier fetches the actions queued for a live call (after we redirected it)."""


class PlaybackFinished(_Event, frozen=True, kw_only=True, tag="call.playback_finished"):
    """Everything queued for playback has been heard."""


class RecordingReady(_Event, frozen=True, kw_only=True, tag="call.recording"):
    """A recording finished and can be fetched."""

    url: str
    duration_seconds: float | None = None
    recording_id: str | None = None


class CallEnded(_Event, frozen=True, kw_only=True, tag="call.ended"):
    """The call reached a terminal state on the carrier's side."""

    reason: EndReason
    duration_seconds: float | None = None


CallEvent = (
    CallStarted
    | CallInitiated
    | CallRinging
    | CallAnswered
    | UserInput
    | NoInput
    | InstructionsRequested
    | PlaybackFinished
    | RecordingReady
    | CallEnded
)
