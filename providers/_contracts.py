"""The small protocols every adapter implements.

Each protocol does one job. A carrier adapter bundles the four carrier contracts in a
:class:`Carrier`; speech and agent engines are separate so any carrier can pair with any engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from ._actions import Action, ConnectStream
from ._events import CallEvent
from ._http import WebhookReply, WebhookRequest
from ._identity import CallIdentity
from ._media import MediaEvent, OutboundMedia, StreamStarted


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

    def parse(self, request: WebhookRequest) -> CallEvent | None:
        """Return the event, or None for a webhook that is "not for us".

        None (an event kind the engine does not act on, such as a Telnyx ``call.bridged``) is
        answered 2xx and changes nothing, so the carrier does not retry it. Raise
        :class:`WebhookRejected` (400) when the body is malformed.
        """
        ...


class ReplyContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a responder is told besides the actions: enough that it needs no per-call memory.

    Attributes:
        call: Our call, with our id and the carrier's.
        event: The event being answered, or None when the engine acts on a live call outside
            any webhook (the control API's ``speak``).
        must_answer: The carrier has not answered the call yet. The actions then start with
            :class:`Answer`, or are a single :class:`Reject` for a refused call.
        starts_listening: The actions hold the call's first gather although they answer no
            call start: a stream call whose stream never started goes on in markup mode. A
            carrier whose recognition runs for the whole call, started with its first gather,
            starts it now.
    """

    call: CallRef
    event: CallEvent | None = None
    must_answer: bool = False
    starts_listening: bool = False


class Responder(Protocol):
    """Carries out actions for a webhook that expects an answer.

    Markup carriers render a body; command carriers issue REST commands and answer with an
    empty 200. The engine does not know which.
    """

    async def respond(self, context: ReplyContext, actions: Sequence[Action]) -> WebhookReply: ...

    def acknowledge(self) -> WebhookReply:
        """The answer to a webhook that expects no instructions (a status callback)."""
        ...


class MediaSession(Protocol):
    """One media stream in a carrier's dialect, with the audio formats its start frame named."""

    @property
    def started(self) -> StreamStarted:
        """The stream's start: call, stream id, custom parameters, format of each direction."""
        ...

    def decode(self, frame: str | bytes) -> MediaEvent:
        """Raise :class:`MediaRejected` on a malformed frame."""
        ...

    def encode(self, message: OutboundMedia) -> str:
        """A frame for this stream; audio is in ``started.playback_format``."""
        ...


class MediaCodec(Protocol):
    """Translates one carrier's media WebSocket dialect.

    ``decode`` reads frames before a stream is known (handshakes and the start frame); each
    stream is then served by its own :meth:`session`, so two calls with different audio
    formats (μ-law in one country, A-law in another) never share one.
    """

    def decode(self, frame: str | bytes) -> MediaEvent:
        """Raise :class:`MediaRejected` on a malformed frame."""
        ...

    def session(self, started: StreamStarted) -> MediaSession:
        """The session for the stream that ``started`` opened."""
        ...


class PlacedCall(msgspec.Struct, frozen=True, kw_only=True):
    """The carrier's acknowledgement of a new outbound call.

    Attributes:
        provider_call_id: The carrier's id for the call.
        provisional: The id is a request id that the carrier's callbacks will not carry (Plivo's
            ``request_uuid``); the first callback naming our call binds the real id.
    """

    provider_call_id: str
    status: str | None = None
    provisional: bool = False


class DialCallbacks(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a carrier needs to place one outbound call, in one value.

    Attributes:
        answer_url: Fetched for instructions once the callee answers (markup carriers).
        status_url: Receives progress and the end of the call.
        identity: Our call identity, for command carriers to send as client state.
        stream: Open this media stream as soon as the call is answered, when set.
        ring_timeout_seconds: Give up when nobody answers within this.
        time_limit_seconds: The carrier ends the call after this, when set.
        machine_detection: Ask the carrier to tell a human from an answering machine.
    """

    answer_url: str
    status_url: str
    identity: CallIdentity
    stream: ConnectStream | None = None
    ring_timeout_seconds: float = 30
    time_limit_seconds: float | None = None
    machine_detection: bool = False


class CallControl(Protocol):
    """REST call control. Hang-up is idempotent: "already ended" is success."""

    async def place_call(self, call: CallRef, callbacks: DialCallbacks) -> PlacedCall:
        """Dial ``call.to_number`` from ``call.from_number``."""
        ...

    async def redirect(self, call: CallRef, url: str) -> None:
        """Make a live call fetch new instructions from ``url`` (markup carriers).

        The engine keeps the actions in its store and serves them at ``url``, so a restart
        between the redirect and the fetch loses nothing. Command carriers are never asked.
        """
        ...

    async def hangup(self, call: CallRef) -> None: ...

    async def aclose(self) -> None: ...


class CarrierCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What a carrier does on its own, so the engine can fill the gaps.

    Attributes:
        commands: Actions are carried out by REST commands, not by the webhook's answer body;
            the engine then acts on a live call through the responder instead of a redirect.
        reports_silence: A gather that hears nothing comes back as a no-input event. When
            False, the engine keeps a listening timer and re-prompts on its own.
        webhook_timeout_seconds: How long the carrier waits for a webhook's answer before it
            gives up on it (Twilio and Plivo: 15 s), or None when no answer is waited for. The
            engine answers a caller's turn well within it, with the fallback line if need be.
    """

    commands: bool = False
    reports_silence: bool = True
    webhook_timeout_seconds: float | None = None


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

    @property
    def capabilities(self) -> CarrierCapabilities: ...


class CarrierContext(msgspec.Struct, frozen=True, kw_only=True):
    """What the framework hands a carrier factory besides the carrier's own settings.

    Attributes:
        public_url: The public base URL webhooks are signed with: scheme, host, and any prefix
            or mount path.
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
    """Something the recognizer noticed in the caller's audio.

    ``failed`` says an utterance could not be recognized (the engine raised or took too long):
    the caller's words are lost, ``text`` holds the cause, and the caller is asked again.
    """

    kind: Literal["speech_started", "partial", "final", "failed"]
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
