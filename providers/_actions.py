"""Provider-neutral actions: what the engine wants done, before any carrier renders it.

Markup carriers turn a list of actions into a document (TwiML); command carriers turn it into
REST calls. URLs inside actions are absolute and built by the server from its mounted routes,
so a rendered document can never point at a path nobody serves.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ._identity import CallIdentity


class _Action(msgspec.Struct, frozen=True, kw_only=True, tag_field="action"):
    """Base of all actions."""


class Answer(_Action, frozen=True, kw_only=True, tag="answer"):
    """Pick up an inbound call before anything else is done on it.

    Markup carriers answer implicitly by returning markup, so they may skip it; command
    carriers must send their answer command first.
    """


class Say(_Action, frozen=True, kw_only=True, tag="say"):
    """Speak text with the carrier's speech engine.

    ``voice`` is a neutral voice name (an OpenAI voice such as ``alloy``); each carrier maps it
    to one of its own voices.
    """

    text: str
    voice: str | None = None
    language: str | None = None


class Play(_Action, frozen=True, kw_only=True, tag="play"):
    """Play an audio file from a URL."""

    url: str
    loop: int = 1


class Pause(_Action, frozen=True, kw_only=True, tag="pause"):
    """Stay silent for a number of seconds."""

    seconds: int = 1


class Gather(_Action, frozen=True, kw_only=True, tag="gather"):
    """Prompt, then collect speech and/or digits; the result is posted to ``action_url``.

    ``callback`` is the same identity ``action_url`` carries in its query, for command carriers
    that send it as client state instead of a URL.
    """

    action_url: str
    callback: CallIdentity | None = None
    prompt: tuple[Say | Play | Pause, ...] = ()
    speech: bool = True
    dtmf: bool = True
    timeout_seconds: int = 5
    speech_timeout: Literal["auto"] | int = "auto"
    hints: tuple[str, ...] = ()
    language: str = "en-US"
    num_digits: int | None = None
    finish_on_key: str | None = None


class Hangup(_Action, frozen=True, kw_only=True, tag="hangup"):
    """End the call.

    Attributes:
        after_playback: Hang up only once the speech queued before it has been heard. Markup
            plays in order anyway; a command carrier must wait for its "speech ended" event.
    """

    after_playback: bool = False


class Reject(_Action, frozen=True, kw_only=True, tag="reject"):
    """Refuse an inbound call without answering it (not billed)."""

    reason: Literal["rejected", "busy"] = "rejected"


class Redirect(_Action, frozen=True, kw_only=True, tag="redirect"):
    """Fetch new instructions from another URL."""

    url: str


class Transfer(_Action, frozen=True, kw_only=True, tag="transfer"):
    """Connect the caller to another number."""

    to: str
    caller_id: str | None = None
    timeout_seconds: int = 30
    action_url: str | None = None


class Record(_Action, frozen=True, kw_only=True, tag="record"):
    """Record the caller; the result is posted to ``action_url``."""

    action_url: str
    max_length_seconds: int = 3600
    finish_on_key: str = "#"
    play_beep: bool = True


class ConnectStream(_Action, frozen=True, kw_only=True, tag="connect_stream"):
    """Open a bidirectional media stream to ``url``, exactly as given.

    ``url`` names the call and its single-use token in its path (carriers keep paths but may
    strip query strings), checked on the WebSocket upgrade before the socket is accepted.
    ``parameters`` travel inside the stream's start message, which must name the same call;
    they alone authorize a socket that reaches the bare stream path.
    """

    url: str
    parameters: dict[str, str] = msgspec.field(default_factory=dict)


class SendDigits(_Action, frozen=True, kw_only=True, tag="send_digits"):
    """Play DTMF tones to the far end (``w`` waits half a second)."""

    digits: str


Action = (
    Answer
    | Say
    | Play
    | Pause
    | Gather
    | Hangup
    | Reject
    | Redirect
    | Transfer
    | Record
    | ConnectStream
    | SendDigits
)
