"""The local carrier's contracts: verify, parse, respond, media codec."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, assert_never

import msgspec

from telephony.providers import (
    MULAW_8K,
    Action,
    AnsweredBy,
    AudioReceived,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallIdentity,
    CallRinging,
    CallStarted,
    ClearAudio,
    DialectSession,
    DigitReceived,
    EndReason,
    Ignored,
    InstructionsRequested,
    MarkReached,
    MediaEvent,
    MediaRejected,
    NoInput,
    OutboundMedia,
    PlaybackFinished,
    ReplyContext,
    SendAudio,
    SendMark,
    StreamStarted,
    StreamStopped,
    UserInput,
    WebhookRejected,
    WebhookReply,
    WebhookRequest,
    decode_audio_payload,
    encode_audio_payload,
    warn_verification_skipped,
)

from ._signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, check
from ._wire import ENCODER, FRAME_DECODER, WEBHOOK_DECODER, Frame, Markup

CommandSink = Callable[[str, list[Action]], Awaitable[None]]
"""Delivers command-mode actions to the far end of one carrier call."""

_END_REASONS: Final[frozenset[str]] = frozenset(
    {"completed", "busy", "no-answer", "failed", "hangup-user", "hangup-bot", "timeout", "error", "voicemail"}
)


class LocalWebhooks:
    """Verifies ``X-Local-Signature`` and parses the JSON webhook bodies."""

    def __init__(
        self, secret: str, *, skip_verification: bool = False, clock: Callable[[], float] = time.time
    ):
        self._secret = secret
        self._skip = skip_verification
        self._clock = clock

    def verify(self, request: WebhookRequest) -> None:
        if self._skip:
            warn_verification_skipped("local")
            return
        check(
            self._secret,
            request.url,
            request.body,
            request.header(SIGNATURE_HEADER),
            request.header(TIMESTAMP_HEADER),
            self._clock(),
        )

    def parse(self, request: WebhookRequest) -> CallEvent:
        try:
            body = WEBHOOK_DECODER.decode(request.body)
        except msgspec.DecodeError as exc:
            raise WebhookRejected(400, f"malformed local webhook: {exc}") from None
        identity = CallIdentity.from_client_state(body.state) or request.identity()
        base: dict[str, Any] = {
            "provider_call_id": body.call,
            "event_id": request.fingerprint(),
            "call_id": identity.call_id if identity else None,
            "turn": identity.turn if identity else None,
        }
        answered_by: AnsweredBy | None = (
            None if body.machine is None else ("machine" if body.machine else "human")
        )
        match body.event:
            case "fetch":
                return InstructionsRequested(**base, expects_reply=True)
            case "started":
                return CallStarted(
                    **base,
                    expects_reply=True,
                    direction="outbound" if body.direction == "outbound" else "inbound",
                    from_number=body.caller or "",
                    to_number=body.callee or "",
                    answered_by=answered_by,
                )
            case "ringing":
                return CallRinging(**base)
            case "answered":
                return CallAnswered(**base, answered_by=answered_by)
            case "input":
                return UserInput(
                    **base,
                    expects_reply=body.final,
                    speech=body.speech,
                    digits=body.digits,
                    confidence=body.confidence,
                    final=body.final,
                )
            case "no_input":
                return NoInput(**base, expects_reply=True)
            case "played":
                return PlaybackFinished(**base)
            case "ended":
                reason = body.reason if body.reason in _END_REASONS else "completed"
                return CallEnded(**base, reason=_end_reason(reason))
        raise WebhookRejected(400, f"unknown local event {body.event!r}")


def _end_reason(value: str | None) -> EndReason:
    reason: EndReason = msgspec.convert(value, EndReason)
    return reason


class LocalResponder:
    """Markup mode answers with the actions themselves as JSON, the local carrier's "markup".

    Command mode answers every webhook with an empty body and hands the actions to the far end
    as commands instead, the way Telnyx Call Control does; gathers then carry our call identity
    as client state rather than in a callback URL.
    """

    def __init__(self, commands: CommandSink | None = None) -> None:
        self._commands = commands

    async def respond(self, context: ReplyContext, actions: Sequence[Action]) -> WebhookReply:
        if self._commands is None:
            return WebhookReply(
                content_type="application/json", body=ENCODER.encode(Markup(actions=list(actions)))
            )
        if context.call.provider_call_id:
            await self._commands(context.call.provider_call_id, list(actions))
        return self.acknowledge()

    def acknowledge(self) -> WebhookReply:
        if self._commands is not None:
            return WebhookReply(content_type="application/json", body=b"")
        return WebhookReply(content_type="application/json", body=b'{"actions":[]}')


class LocalMediaCodec:
    """JSON frames with base64 mu-law audio: hello/audio/key/played/bye in, play/marker/flush out."""

    def session(self, started: StreamStarted) -> DialectSession:
        """Each stream gets its own session (the local dialect is always 8 kHz mu-law)."""
        return DialectSession(self, started)

    def decode(self, frame: str | bytes) -> MediaEvent:
        try:
            message = FRAME_DECODER.decode(frame)
        except msgspec.DecodeError as exc:
            raise MediaRejected(f"malformed local media frame: {exc}") from None
        match message.type:
            case "audio":
                return AudioReceived(payload=decode_audio_payload(message.pcmu or ""))
            case "hello":
                if not (message.call and message.stream):
                    raise MediaRejected("hello frame needs call and stream")
                return StreamStarted(
                    provider_call_id=message.call,
                    stream_id=message.stream,
                    audio_format=MULAW_8K,
                    parameters=message.params or {},
                )
            case "key":
                return DigitReceived(digit=message.digit or "")
            case "played":
                return MarkReached(name=message.id or "")
            case "bye":
                return StreamStopped()
        return Ignored(event=message.type)

    def encode(self, message: OutboundMedia, stream_id: str) -> str:
        match message:
            case SendAudio(payload=payload):
                frame = Frame(type="play", stream=stream_id, pcmu=encode_audio_payload(payload))
            case SendMark(name=name):
                frame = Frame(type="marker", stream=stream_id, id=name)
            case ClearAudio():
                frame = Frame(type="flush", stream=stream_id)
            case _:
                assert_never(message)
        return ENCODER.encode(frame).decode()
