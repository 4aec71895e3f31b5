"""The small protocols every adapter implements.

Each protocol does one job. A carrier adapter bundles the four carrier contracts in a
:class:`Carrier`; speech and agent engines are separate so any carrier can pair with any engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from ._actions import Action
from ._events import CallEvent
from ._http import WebhookReply, WebhookRequest
from ._media import AudioFormat, MediaEvent, OutboundMedia


class CallRef(msgspec.Struct, frozen=True, kw_only=True):
    """What an adapter needs to know about a call to act on it."""

    call_id: str
    provider_call_id: str | None = None
    from_number: str | None = None
    to_number: str | None = None


class WebhookVerifier(Protocol):
    """Checks that a webhook really comes from the carrier. Fails closed."""

    def verify(self, request: WebhookRequest) -> None:
        """Return normally when authentic; raise :class:`WebhookRejected` otherwise."""
        ...


class WebhookParser(Protocol):
    """Turns an authentic webhook into one normalized event."""

    def parse(self, request: WebhookRequest) -> CallEvent:
        """Raise :class:`WebhookRejected` (400) when the body is not a call event."""
        ...


class Responder(Protocol):
    """Carries out actions for a webhook that expects an answer.

    Markup carriers render a body; command carriers issue REST commands and answer with an
    empty 200. The engine does not know which.
    """

    async def respond(self, call: CallRef, actions: Sequence[Action]) -> WebhookReply: ...

    def acknowledge(self) -> WebhookReply:
        """The answer to a webhook that expects no instructions (a status callback)."""
        ...


class MediaCodec(Protocol):
    """Translates one carrier's media WebSocket dialect."""

    @property
    def audio_format(self) -> AudioFormat:
        """The encoding and rate of audio in both directions."""
        ...

    def decode(self, frame: str | bytes) -> MediaEvent:
        """Raise :class:`MediaRejected` on a malformed frame."""
        ...

    def encode(self, message: OutboundMedia, stream_id: str) -> str: ...


class PlacedCall(msgspec.Struct, frozen=True, kw_only=True):
    """The carrier's acknowledgement of a new outbound call."""

    provider_call_id: str
    status: str | None = None


class CallControl(Protocol):
    """REST call control. Hang-up is idempotent: "already ended" is success."""

    async def place_call(
        self,
        *,
        to: str,
        from_: str,
        answer_url: str,
        status_url: str,
        machine_detection: bool = False,
        ring_timeout_seconds: float = 30,
    ) -> PlacedCall: ...

    async def update(self, call: CallRef, actions: Sequence[Action]) -> None:
        """Replace what a live call is doing with new actions (speak, redirect, transfer)."""
        ...

    async def hangup(self, call: CallRef) -> None: ...

    async def aclose(self) -> None: ...


class Carrier(Protocol):
    """One carrier adapter: the four contracts plus a name.

    Read-only members, so plain attributes of any narrower type satisfy them.
    """

    @property
    def name(self) -> str: ...

    @property
    def verifier(self) -> WebhookVerifier: ...

    @property
    def parser(self) -> WebhookParser: ...

    @property
    def responder(self) -> Responder: ...

    @property
    def codec(self) -> MediaCodec: ...

    @property
    def control(self) -> CallControl: ...


class CarrierContext(msgspec.Struct, frozen=True, kw_only=True):
    """What the framework hands a carrier factory besides the carrier's own settings.

    Attributes:
        public_url: The externally visible base URL (scheme and host) webhooks are signed with.
        webhook_url: The absolute URL of the webhook route.
        skip_signature_verification: The loud development switch; adapters must honour it
            only through :func:`providers.warn_verification_skipped`, which logs loudly.
        voice: The neutral default voice for markup speech.
    """

    public_url: str
    webhook_url: str = ""
    skip_signature_verification: bool = False
    voice: str | None = None
    language: str = "en-US"


class CarrierFactory(Protocol):
    """The entry-point target for group ``telephony.carriers``."""

    def __call__(self, settings: Mapping[str, Any], context: CarrierContext) -> Carrier: ...


# ---------------------------------------------------------------- speech and agent


class SynthesizedAudio(msgspec.Struct, frozen=True):
    """One chunk of synthesized speech: signed 16-bit little-endian mono PCM."""

    pcm: bytes
    sample_rate: int


class TextToSpeech(Protocol):
    """Turns text into PCM audio, chunk by chunk so playback can start early."""

    def synthesize(self, text: str) -> AsyncIterator[SynthesizedAudio]: ...


class TranscriptEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something the recognizer noticed in the caller's audio."""

    kind: Literal["speech_started", "partial", "final"]
    text: str = ""
    confidence: float | None = None


@runtime_checkable
class TranscriptionStream(Protocol):
    """One live recognition session for one call direction."""

    async def send(self, pcm: bytes) -> None:
        """Feed 16-bit PCM at the rate the stream was opened with."""
        ...

    def events(self) -> AsyncIterator[TranscriptEvent]: ...

    async def aclose(self) -> None: ...


class SpeechToText(Protocol):
    """Opens live transcription streams."""

    sample_rate: int

    async def open_stream(self, *, language: str = "en-US") -> TranscriptionStream: ...


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a call transcript."""

    speaker: Literal["bot", "user"]
    text: str
    at: float


class AgentRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Everything an agent may use to answer one user turn."""

    call_id: str
    transcript: tuple[Turn, ...]
    from_number: str | None = None
    to_number: str | None = None
    direction: str | None = None
    purpose: str | None = None


class AgentReply(msgspec.Struct, frozen=True, kw_only=True):
    """The agent's answer; ``end_call`` asks the engine to say it and hang up."""

    text: str
    end_call: bool = False


class Agent(Protocol):
    """Produces the bot's next line."""

    async def reply(self, request: AgentRequest) -> AgentReply: ...
