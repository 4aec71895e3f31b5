"""Render provider-neutral actions as Plivo XML.

Plivo runs the elements of a ``<Response>`` in order. A ``<GetInput>`` that hears nothing does
not call its action URL: Plivo falls through to the next element. So every gather is followed
by a ``<Redirect>`` to its own action URL, which carries the gather's identity and no input:
the engine gets a ``NoInput`` for exactly that turn, and decides what a silent caller hears.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final
from xml.etree import ElementTree

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

#: Neutral (OpenAI) voice names mapped to the Amazon Polly voices Plivo's ``<Speak>`` accepts.
POLLY_FOR_OPENAI: Final = {
    "alloy": "Polly.Joanna",
    "echo": "Polly.Matthew",
    "fable": "Polly.Amy",
    "onyx": "Polly.Brian",
    "nova": "Polly.Salli",
    "shimmer": "Polly.Kimberly",
}

#: The stream's audio: 8 kHz mu-law both ways, what the phone network carries anyway.
STREAM_CONTENT_TYPE: Final = "audio/x-mulaw;rate=8000"
#: Plivo's limit on the text of one ``<Speak>``; a longer reply is spoken in several.
MAX_SPEAK_CHARS: Final = 3000
#: Plivo's limit on ``extraHeaders``.
MAX_EXTRA_HEADERS: Final = 512

_EXECUTION_TIMEOUT = (5, 60)  # Plivo's range for GetInput executionTimeout, seconds
#: ``executionTimeout`` bounds the whole input, not only the wait for it to start: speech gets
#: this long on top of the gather's timeout, so a caller is not cut off mid-sentence.
SPEECH_ALLOWANCE_SECONDS: Final = 10
_SPEECH_END_TIMEOUT = (2, 10)  # and for speechEndTimeout
_HEADER_PART = re.compile(r"^[A-Za-z0-9_.\-]+$")
_PHONE = re.compile(r"^\+\d+$")


def plivo_voice(voice: str | None) -> str | None:
    """Plivo's voice for a neutral voice name; Plivo names (``WOMAN``, ``Polly.Amy``) pass through."""
    if voice is None:
        return None
    return POLLY_FOR_OPENAI.get(voice.lower(), voice)


def plivo_number(number: str) -> str:
    """A phone number as Plivo writes it: country code and digits, no ``+`` (SIP URIs unchanged)."""
    return number[1:] if _PHONE.match(number) else number


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    return max(bounds[0], min(bounds[1], value))


def _element(
    parent: ElementTree.Element, tag: str, text: str | None = None, **attrs: object
) -> ElementTree.Element:
    element = ElementTree.SubElement(
        parent, tag, {name: _attr(value) for name, value in attrs.items() if value is not None}
    )
    element.text = text
    return element


def _attr(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def speak_chunks(text: str, limit: int = MAX_SPEAK_CHARS) -> list[str]:
    """``text`` in pieces Plivo accepts in one ``<Speak>``, split between words where possible."""
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind(" ", 0, limit + 1)
        cut = cut if cut > 0 else limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [*chunks, rest]


def _speak(parent: ElementTree.Element, action: Say, default_voice: str | None) -> None:
    voice = plivo_voice(action.voice or default_voice)
    for chunk in speak_chunks(action.text):
        _element(parent, "Speak", chunk, voice=voice, language=action.language)


def _prompt(parent: ElementTree.Element, action: Say | Play | Pause, default_voice: str | None) -> None:
    if isinstance(action, Say):
        _speak(parent, action, default_voice)
    elif isinstance(action, Play):
        _element(parent, "Play", action.url, loop=action.loop)
    else:
        raise ValueError("Plivo's GetInput nests only Speak and Play, not a pause")


def _gather(response: ElementTree.Element, action: Gather, default_voice: str | None) -> None:
    inputs = " ".join(name for name, on in (("dtmf", action.dtmf), ("speech", action.speech)) if on)
    if not inputs:
        raise ValueError("a gather must listen for speech, digits or both")
    speech_end = (
        "auto" if action.speech_timeout == "auto" else _clamp(action.speech_timeout, _SPEECH_END_TIMEOUT)
    )
    leading = [item for item in action.prompt if isinstance(item, Pause)]
    if leading and any(isinstance(item, Pause) for item in action.prompt[len(leading) :]):
        raise ValueError("Plivo's GetInput cannot pause between prompts; put pauses first")
    for pause in leading:
        _element(response, "Wait", length=pause.seconds)
    get_input = _element(
        response,
        "GetInput",
        action=action.action_url,
        method="POST",
        inputType=inputs,
        executionTimeout=_clamp(
            action.timeout_seconds + (SPEECH_ALLOWANCE_SECONDS if action.speech else 0), _EXECUTION_TIMEOUT
        ),
        speechEndTimeout=speech_end if action.speech else None,
        hints=",".join(action.hints) if action.speech and action.hints else None,
        language=action.language,
        numDigits=action.num_digits if action.dtmf else None,
        finishOnKey=action.finish_on_key if action.dtmf else None,
        redirect=True,
    )
    for prompt in action.prompt[len(leading) :]:
        _prompt(get_input, prompt, default_voice)
    # Nothing heard: Plivo runs the next element. Post the gather's own URL, without input.
    _element(response, "Redirect", action.action_url, method="POST")


def _extra_headers(parameters: dict[str, str]) -> str:
    """``k1=v1,k2=v2`` for ``<Stream extraHeaders>``; refuses what the format cannot carry."""
    for name, value in parameters.items():
        if not (_HEADER_PART.match(name) and _HEADER_PART.match(value)):
            raise ValueError(f"stream parameter {name!r} cannot travel in Plivo extraHeaders")
    joined = ",".join(f"{name}={value}" for name, value in parameters.items())
    if len(joined.encode()) > MAX_EXTRA_HEADERS:
        raise ValueError(f"stream parameters exceed Plivo's {MAX_EXTRA_HEADERS}-byte extraHeaders limit")
    return joined


def render_plivo_xml(actions: Sequence[Action], *, default_voice: str | None = None) -> str:
    """Return a Plivo XML document for ``actions``, in order.

    Raises:
        ValueError: for an action Plivo cannot carry out as given (the server logs it).
    """
    response = ElementTree.Element("Response")
    for action in actions:
        _append(response, action, default_voice)
    return ElementTree.tostring(response, encoding="unicode", xml_declaration=False)


def _append(response: ElementTree.Element, action: Action, default_voice: str | None) -> None:
    """The elements for one action, added to the end of ``response``."""
    match action:
        case Answer():
            pass  # returning XML answers the call
        case Say() | Play():
            _prompt(response, action, default_voice)
        case Pause():
            _element(response, "Wait", length=action.seconds)
        case Gather():
            _gather(response, action, default_voice)
        case Hangup():
            _element(response, "Hangup")  # markup plays in order: after_playback holds
        case Reject():
            _element(response, "Hangup", reason=action.reason)
        case Redirect():
            _element(response, "Redirect", action.url, method="POST")
        case Transfer():
            dial = _element(
                response,
                "Dial",
                callerId=plivo_number(action.caller_id) if action.caller_id else None,
                timeout=action.timeout_seconds,
                action=action.action_url,
                method="POST" if action.action_url else None,
            )
            _element(dial, "Number", plivo_number(action.to))
        case Record():
            _element(
                response,
                "Record",
                action=action.action_url,
                method="POST",
                maxLength=action.max_length_seconds,
                finishOnKey=action.finish_on_key,
                playBeep=action.play_beep,
                redirect=True,
            )
        case ConnectStream():
            _element(
                response,
                "Stream",
                action.url,
                bidirectional=True,
                audioTrack="inbound",
                keepCallAlive=True,
                contentType=STREAM_CONTENT_TYPE,
                extraHeaders=_extra_headers(action.parameters) if action.parameters else None,
            )
        case SendDigits():
            _element(response, "DTMF", action.digits)
