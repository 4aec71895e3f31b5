"""Actions as Acme commands: one REST command per action, in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from telephony.providers import (
    Action,
    Answer,
    CallControlError,
    CallIdentity,
    CallRef,
    ConnectStream,
    Gather,
    Hangup,
    Pause,
    Play,
    Record,
    Reject,
    ReplyContext,
    Say,
    SendDigits,
    Transfer,
    WebhookReply,
)

from ._api import AcmeApi

_VOICES: Final = {"alloy": "female-1", "nova": "female-2", "echo": "male-1", "onyx": "male-2"}


class AcmeResponder:
    """Carries out actions as Acme commands and answers every webhook with an empty 200.

    It keeps no per-call memory: the call, the event and the actions say what to do, and our
    call identity goes out as client state, which Acme echoes on the call's later events.

    Args:
        api: The REST client shared with call control.
        default_voice: The configured neutral voice, for ``Say`` actions that name none.
    """

    def __init__(self, api: AcmeApi, *, default_voice: str | None = None) -> None:
        self._api = api
        self._voice = default_voice

    async def respond(self, context: ReplyContext, actions: Sequence[Action]) -> WebhookReply:
        """Send one command per action, in order; raise :class:`CallControlError` on failure."""
        call = context.call
        state = CallIdentity(call_id=call.call_id).client_state()
        spoke = False
        for action in actions:
            match action:
                case Say():
                    await self._api.command(call, "speak", {**self._say(action), "client_state": state})
                    spoke = True
                case Play(url=url, loop=loop):
                    await self._api.command(call, "play", {"audio_url": url, "loop": loop})
                    spoke = True
                case Hangup(after_playback=True) if spoke:
                    # Acme runs commands at once: a hang-up now would cut the speech off. Acme
                    # reports call.speak.ended (parsed as PlaybackFinished) and the engine ends
                    # the call then.
                    pass
                case _:
                    await self._command(call, action, state)
        return self.acknowledge()

    def acknowledge(self) -> WebhookReply:
        """An empty 200: Acme reads nothing from webhook answers."""
        return WebhookReply(status=200)

    async def _command(self, call: CallRef, action: Action, state: str) -> None:
        """The one command for an action that needs nothing from the actions before it."""
        match action:
            case Answer():
                await self._api.command(call, "answer", {"client_state": state})
            case Gather():
                await self._api.command(call, "gather", self._gather(call, action))
            case Hangup():
                await self._api.command(call, "hangup", {})
            case Reject(reason=reason):
                await self._api.command(call, "reject", {"cause": reason})
            case Transfer(to=to, caller_id=caller_id, timeout_seconds=timeout):
                await self._api.command(
                    call, "transfer", {"to": to, "from": caller_id, "timeout_secs": timeout}
                )
            case Record():
                await self._api.command(
                    call,
                    "record_start",
                    {
                        "max_length_secs": action.max_length_seconds,
                        "terminating_digit": action.finish_on_key,
                        "play_beep": action.play_beep,
                    },
                )
            case ConnectStream(url=url, parameters=parameters):
                # token and callId must reach the stream's start frame unchanged
                await self._api.command(
                    call, "streaming_start", {"stream_url": url, "custom_parameters": parameters}
                )
            case SendDigits(digits=digits):
                await self._api.command(call, "send_dtmf", {"digits": digits})
            case _:  # Pause, Redirect: nothing on Acme does this outside a prompt
                raise CallControlError(f"Acme cannot carry out {type(action).__name__}")

    def _say(self, say: Say) -> dict[str, Any]:
        voice = _VOICES.get(say.voice or self._voice or "", "female-1")
        return {"text": say.text, "voice": voice, "language": say.language or "en-US"}

    def _gather(self, call: CallRef, gather: Gather) -> dict[str, Any]:
        prompt: list[dict[str, Any]] = []
        for item in gather.prompt:
            match item:
                case Say():
                    prompt.append({"say": self._say(item)})
                case Play(url=url):
                    prompt.append({"play": url})
                case Pause(seconds=seconds):
                    prompt.append({"pause_secs": seconds})
        # The gather's own identity (with its turn) comes back on call.gather.ended.
        identity = gather.callback or CallIdentity(call_id=call.call_id, kind="gather")
        return {
            "prompt": prompt,
            "input": [name for name, on in (("speech", gather.speech), ("dtmf", gather.dtmf)) if on],
            "timeout_secs": gather.timeout_seconds,
            "language": gather.language,
            "hints": list(gather.hints),
            "max_digits": gather.num_digits,
            "terminating_digit": gather.finish_on_key,
            "client_state": identity.client_state(),
        }
