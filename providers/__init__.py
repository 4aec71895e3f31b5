"""Provider contracts: the normalized vocabulary and the protocols every adapter implements.

This package stands alone: it imports neither the framework core nor any adapter.
"""

from __future__ import annotations

from ._actions import (
    Action,
    ConnectStream,
    Gather,
    Hangup,
    Pause,
    Play,
    Record,
    Redirect,
    Reject,
    Say,
    SendDigits,
    Transfer,
)
from ._contracts import (
    Agent,
    AgentReply,
    AgentRequest,
    CallControl,
    CallRef,
    Carrier,
    CarrierContext,
    CarrierFactory,
    MediaCodec,
    PlacedCall,
    Responder,
    SpeechToText,
    SynthesizedAudio,
    TextToSpeech,
    TranscriptEvent,
    TranscriptionStream,
    Turn,
    WebhookParser,
    WebhookVerifier,
)
from ._errors import (
    AdapterConfigError,
    AdapterNotFound,
    CallControlError,
    MediaRejected,
    TelephonyError,
    WebhookRejected,
)
from ._events import (
    AnsweredBy,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallInitiated,
    CallRinging,
    CallStarted,
    Direction,
    EndReason,
    NoInput,
    PlaybackFinished,
    RecordingReady,
    UserInput,
)
from ._http import WebhookReply, WebhookRequest
from ._media import (
    MULAW_8K,
    AudioFormat,
    AudioReceived,
    ClearAudio,
    DigitReceived,
    Ignored,
    MarkReached,
    MediaEvent,
    OutboundMedia,
    SendAudio,
    SendMark,
    StreamStarted,
    StreamStopped,
)
from ._registry import AGENTS, CARRIERS, STT, TTS, available, load
from ._security import require_header, signatures_match, warn_verification_skipped
from ._settings import parse_settings

__all__ = [
    "AGENTS", "CARRIERS", "MULAW_8K", "STT", "TTS",
    "Action", "AdapterConfigError", "AdapterNotFound", "Agent", "AgentReply", "AgentRequest",
    "AnsweredBy", "AudioFormat", "AudioReceived", "CallAnswered", "CallControl",
    "CallControlError", "CallEnded", "CallEvent", "CallInitiated", "CallRef", "CallRinging", "CallStarted",
    "Carrier", "CarrierContext", "CarrierFactory", "ClearAudio", "ConnectStream", "DigitReceived",
    "Direction", "EndReason", "Gather", "Hangup", "Ignored", "MarkReached", "MediaCodec",
    "MediaEvent", "MediaRejected", "NoInput", "OutboundMedia", "Pause", "PlacedCall", "Play",
    "PlaybackFinished", "Record", "RecordingReady", "Redirect", "Reject", "Responder", "Say",
    "SendAudio", "SendDigits", "SendMark", "SpeechToText", "StreamStarted", "StreamStopped",
    "SynthesizedAudio", "TelephonyError", "TextToSpeech", "Transfer", "TranscriptEvent",
    "TranscriptionStream", "Turn", "UserInput", "WebhookParser", "WebhookRejected",
    "WebhookReply", "WebhookRequest", "WebhookVerifier", "available", "load", "parse_settings",
    "require_header", "signatures_match", "warn_verification_skipped",
]
