"""Stream mode: the media socket's session, its slots, and the audio it converts.

A carrier streams the call's audio over a WebSocket; :class:`StreamSession` drives one such
socket from its credential to its hang-up (recognition, the turn path, paced playback with marks,
barge-in), :class:`StreamSlots` decides who may hold a socket, and the G.711 and resampling
helpers turn carrier audio into engine audio and back. Logger names are unchanged
(``telephony.stream``).
"""

from __future__ import annotations

from ._audio import (
    DEFAULT_QUALITY,
    InboundDecoder,
    OutboundEncoder,
    StreamResampler,
    alaw_to_pcm16,
    decode_to_pcm16,
    encode_from_pcm16,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    silence,
    ulaw_to_pcm16,
)
from ._session import (
    MAX_CALL_ID_CHARS,
    MAX_TOKEN_CHARS,
    MAX_UTTERANCE_SECONDS,
    POLICY_VIOLATION,
    RECOGNIZER_RETRY_SECONDS,
    RECOGNIZER_SEND_SECONDS,
    STORE_RETRY_SECONDS,
    TRY_AGAIN_LATER,
    FrameSocket,
    StreamCredential,
    StreamSession,
    admit_upgrade,
    refuse_stream,
)
from ._slots import StreamSlot, StreamSlots, StreamSlotsFull

__all__ = [
    "DEFAULT_QUALITY",
    "MAX_CALL_ID_CHARS",
    "MAX_TOKEN_CHARS",
    "MAX_UTTERANCE_SECONDS",
    "POLICY_VIOLATION",
    "RECOGNIZER_RETRY_SECONDS",
    "RECOGNIZER_SEND_SECONDS",
    "STORE_RETRY_SECONDS",
    "TRY_AGAIN_LATER",
    "FrameSocket",
    "InboundDecoder",
    "OutboundEncoder",
    "StreamCredential",
    "StreamResampler",
    "StreamSession",
    "StreamSlot",
    "StreamSlots",
    "StreamSlotsFull",
    "admit_upgrade",
    "alaw_to_pcm16",
    "decode_to_pcm16",
    "encode_from_pcm16",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "refuse_stream",
    "silence",
    "ulaw_to_pcm16",
]
