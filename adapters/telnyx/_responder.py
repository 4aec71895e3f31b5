"""The engine's actions as Call Control commands, in order; every webhook is answered empty.

Telnyx has no markup: a webhook's answer body is ignored, so each action becomes a REST
command on the call, carrying our call identity as ``client_state`` (Telnyx echoes the latest
one on every later event of the call).

Listening: Call Control's ``gather_using_speak`` and ``gather`` collect digits only. Speech
comes from ``transcription_start``, which runs from the call's first gather until the
goodbye, turning each final transcript into a ``call.transcription`` event; keys pressed
arrive as ``call.dtmf.received``. A gather is therefore its prompt, spoken, plus transcription
started once per call; nothing reports silence, so the carrier declares
``reports_silence=False`` and the engine times the caller's turn.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Final, Protocol

from telephony.providers import (
    Action,
    Answer,
    CallControlError,
    CallIdentity,
    CallRef,
    CallStarted,
    ConnectStream,
    Gather,
    Hangup,
    Pause,
    Play,
    Record,
    Redirect,
    Reject,
    ReplyContext,
    Say,
    SendDigits,
    Transfer,
    WebhookReply,
)

from ._api import TelnyxApi

_log = logging.getLogger("telephony.telnyx")

_REJECT_CAUSES: Final = {"rejected": "CALL_REJECTED", "busy": "USER_BUSY"}
_LEGACY_VOICES: Final = frozenset({"male", "female"})

#: The codec we ask Telnyx to play back: what the stream session encodes.
PLAYBACK_CODEC: Final = "PCMU"


class _Send(Protocol):
    """Sends one command of a webhook's answer (:meth:`_Commands.send`)."""

    def __call__(self, name: str, body: Mapping[str, Any], *, gone_ok: bool = False) -> Awaitable[None]: ...


class _Commands:
    """The commands answering one webhook, each with a ``command_id`` derived from the event.

    Telnyx ignores a command whose ``command_id`` it has seen on the call, so when a webhook is
    retried after its handling failed part way (the answer went out, the greeting did not), the
    commands already carried out are not carried out twice.
    """

    def __init__(self, api: TelnyxApi, call: CallRef, event_id: str | None) -> None:
        self.api = api
        self.call = call
        self._event_id = event_id
        self._sent = 0

    async def send(self, name: str, body: Mapping[str, Any], *, gone_ok: bool = False) -> None:
        self._sent += 1
        if self._event_id is not None:
            key = f"{self._event_id}/{self._sent}/{name}"
            body = {**body, "command_id": str(uuid.uuid5(uuid.NAMESPACE_URL, key))}
        await self.api.command(self.call, name, body, gone_ok=gone_ok)


class TelnyxResponder:
    """Carries out actions as Telnyx commands and answers every webhook with an empty 200.

    It keeps no per-call memory: the reply context says which call, which event and whether
    the call must still be answered; our identity travels as client state.

    Args:
        api: The shared REST client.
        voice: The ``speak`` voice for actions that name none Telnyx knows.
        transcription_engine: What ``transcription_start`` asks for.
    """

    def __init__(
        self, api: TelnyxApi, *, voice: str = "female", transcription_engine: str = "Google"
    ) -> None:
        self._api = api
        self._voice = voice
        self._engine = transcription_engine

    async def respond(self, context: ReplyContext, actions: Sequence[Action]) -> WebhookReply:
        """Send one command per action, in order (see the module docstring for gathers)."""
        call = context.call
        send = _Commands(self._api, call, context.event.event_id if context.event else None).send
        state = CallIdentity(call_id=call.call_id).client_state()
        # Transcription starts with the call's first gather: the one answering the call's start,
        # or the one that moves a stream call whose stream never started to markup mode.
        starts_listening = isinstance(context.event, CallStarted) or context.starts_listening
        spoke = False
        for action in actions:
            match action:
                case Say() | Play():
                    await self._prompt(send, action, state)
                    spoke = True
                case Pause():
                    pass  # Call Control is silent between commands: a pause is no command
                case Gather():
                    spoke = await self._gather(send, call, action, starts_listening=starts_listening) or spoke
                case Hangup(after_playback=True) if spoke:
                    # Commands run at once: hanging up now would cut the speech off. The engine
                    # hangs up when call.speak.ended (PlaybackFinished) says it has been heard.
                    if not starts_listening:
                        await self._stop_transcription(send, call, state)
                case _:
                    await _command(send, action, state)
        return self.acknowledge()

    def acknowledge(self) -> WebhookReply:
        """An empty 200: Telnyx ignores the body of a webhook's answer."""
        return WebhookReply(status=200, content_type="text/plain", body=b"")

    async def _prompt(self, send: _Send, item: Say | Play, state: str) -> None:
        if isinstance(item, Say):
            await send("speak", self._speak(item, state))
        else:
            loop: int | str = item.loop if item.loop > 0 else "infinity"
            body = {"audio_url": item.url, "loop": loop, "client_state": state}
            await send("playback_start", body)

    async def _gather(self, send: _Send, call: CallRef, gather: Gather, *, starts_listening: bool) -> bool:
        """Speak the prompt with the gather's identity (its turn); start transcription once.

        Returns:
            Whether anything was queued for playback.
        """
        identity = gather.callback or CallIdentity(call_id=call.call_id, kind="gather")
        state = identity.client_state()
        spoke = False
        for item in gather.prompt:
            if isinstance(item, Say | Play):
                await self._prompt(send, item, state)
                spoke = True
        if gather.speech and starts_listening:
            body: dict[str, Any] = {
                "transcription_engine": self._engine,
                "transcription_tracks": "inbound",  # the caller only, never our own speech
                "client_state": state,
            }
            language = _transcription_language(self._engine, gather.language)
            if language:
                body["transcription_engine_config"] = {
                    "transcription_engine": self._engine,
                    "language": language,
                }
            await send("transcription_start", body)
        return spoke

    async def _stop_transcription(self, send: _Send, call: CallRef, state: str) -> None:
        """Stop listening during the goodbye, so words said over it cannot cut it short.

        Best effort: transcription may not be running (a call that never gathered).
        """
        try:
            await send("transcription_stop", {"client_state": state}, gone_ok=True)
        except CallControlError as exc:
            _log.info("call %s: transcription_stop refused (%s)", call.call_id, exc)

    def _speak(self, say: Say, state: str) -> dict[str, Any]:
        voice = say.voice if say.voice and ("." in say.voice or say.voice in _LEGACY_VOICES) else None
        body: dict[str, Any] = {
            "payload": say.text,
            "payload_type": "text",
            "voice": voice or self._voice,
            "client_state": state,
        }
        if say.language:
            body["language"] = say.language
        return body


def _transcription_language(engine: str, language: str) -> str | None:
    """The language as the engine's config takes it, or None to leave the engine's default.

    Telnyx's Google and Telnyx engines take a bare language code (``en``, not ``en-US``); what
    the other engines accept is not pinned down, and a value they refuse would fail the call.
    """
    if engine not in ("Google", "Telnyx") or not language:
        return None
    return language.split("-")[0].split("_")[0].lower()


async def _command(send: _Send, action: Action, state: str) -> None:
    """The one command for an action that needs nothing from the actions before it."""
    match action:
        case Answer():
            await send("answer", {"client_state": state})
        case Hangup():
            await send("hangup", {"client_state": state}, gone_ok=True)
        case Reject(reason=reason):
            body = {"cause": _REJECT_CAUSES[reason], "client_state": state}
            await send("reject", body, gone_ok=True)
        case ConnectStream():
            await send("streaming_start", _stream(action, state))
        case Transfer():
            await send("transfer", _transfer(action, state))
        case Record():
            await send("record_start", _record(action, state))
        case SendDigits(digits=digits):
            await send("send_dtmf", {"digits": digits, "client_state": state})
        case Redirect():
            raise CallControlError(
                "Telnyx Call Control takes commands, not markup: a redirect cannot be carried out"
            )


def _stream(action: ConnectStream, state: str) -> dict[str, Any]:
    """Bidirectional RTP; our token and call id arrive in the start frame's ``custom_parameters``."""
    return {
        "stream_url": action.url,
        "stream_track": "inbound_track",
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": PLAYBACK_CODEC,
        "stream_bidirectional_sampling_rate": 8000,
        "custom_parameters": [{"name": name, "value": value} for name, value in action.parameters.items()],
        "client_state": state,
    }


def _transfer(action: Transfer, state: str) -> dict[str, Any]:
    body: dict[str, Any] = {"to": action.to, "timeout_secs": action.timeout_seconds, "client_state": state}
    if action.caller_id:
        body["from"] = action.caller_id
    return body


def _record(action: Record, state: str) -> dict[str, Any]:
    return {
        "format": "mp3",
        "channels": "single",
        "play_beep": action.play_beep,
        "max_length": action.max_length_seconds,
        "client_state": state,
    }
