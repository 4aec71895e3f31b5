"""Render provider-neutral actions as TwiML with the SDK's ``VoiceResponse``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twilio.twiml.voice_response import Gather as TwimlGather
from twilio.twiml.voice_response import VoiceResponse

from telephony.providers import (
    Action,
    Answer,
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

from ._voices import twilio_voice


def _say(target: Any, action: Say, default_voice: str | None) -> None:
    target.say(action.text, voice=twilio_voice(action.voice or default_voice), language=action.language)


def _prompt(target: Any, action: Say | Play | Pause, default_voice: str | None) -> None:
    if isinstance(action, Say):
        _say(target, action, default_voice)
    elif isinstance(action, Play):
        target.play(action.url, loop=action.loop)
    else:
        target.pause(length=action.seconds)


def _gather(response: VoiceResponse, action: Gather, default_voice: str | None) -> None:
    inputs = " ".join(name for name, on in (("speech", action.speech), ("dtmf", action.dtmf)) if on)
    gather: TwimlGather = response.gather(
        input=inputs,
        action=action.action_url,
        method="POST",
        timeout=action.timeout_seconds,
        speech_timeout=action.speech_timeout if action.speech else None,
        hints=", ".join(action.hints) or None,
        language=action.language,
        num_digits=action.num_digits,
        finish_on_key=action.finish_on_key,
        action_on_empty_result=True,
    )
    for prompt in action.prompt:
        _prompt(gather, prompt, default_voice)


def render_twiml(actions: Sequence[Action], *, default_voice: str | None = None) -> str:
    """Return a TwiML document for ``actions``, in order.

    Gathers post back even on empty results (``actionOnEmptyResult``) so the engine, not
    Twilio's fall-through, decides what a silent caller hears.
    """
    response = VoiceResponse()
    for action in actions:
        _append(response, action, default_voice)
    return str(response.to_xml())


def _append(response: VoiceResponse, action: Action, default_voice: str | None) -> None:
    """The verbs for one action, added to the end of ``response``."""
    match action:
        case Answer():
            pass  # returning TwiML answers the call
        case Say() | Play() | Pause():
            _prompt(response, action, default_voice)
        case Gather():
            _gather(response, action, default_voice)
        case Hangup():
            response.hangup()
        case Reject():
            response.reject(reason=action.reason)
        case Redirect():
            response.redirect(action.url, method="POST")
        case Transfer():
            dial = response.dial(
                caller_id=action.caller_id, timeout=action.timeout_seconds, action=action.action_url
            )
            dial.number(action.to)
        case Record():
            response.record(
                action=action.action_url,
                max_length=action.max_length_seconds,
                finish_on_key=action.finish_on_key,
                play_beep=action.play_beep,
            )
        case ConnectStream():
            _connect_stream(response, action)
        case SendDigits():
            response.play(digits=action.digits)


def _connect_stream(response: VoiceResponse, action: ConnectStream) -> None:
    stream = response.connect().stream(url=action.url)
    for name, value in action.parameters.items():
        stream.parameter(name=name, value=value)
