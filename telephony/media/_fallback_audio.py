"""A short line rendered ahead of time by each TTS engine, for when that engine fails mid-call.

Rendered once per engine and kept for the life of the process, so a stream whose synthesis
fails (an exception, or no audio in time) still has something to say at once, without asking
the failing engine again.
"""

from __future__ import annotations

import logging
import weakref
from typing import Final

import anyio

from telephony.providers import SynthesizedAudio, TextToSpeech, failure_cause

__all__ = ["RENDER_SECONDS", "cached", "prepare"]

_log = logging.getLogger("telephony.stream")

RENDER_SECONDS: Final = 30.0  # rendering happens in the background: no caller waits on it

_rendered: weakref.WeakKeyDictionary[TextToSpeech, dict[str, tuple[SynthesizedAudio, ...]]] = (
    weakref.WeakKeyDictionary()
)


def cached(tts: TextToSpeech, text: str) -> tuple[SynthesizedAudio, ...] | None:
    """``text`` as ``tts`` rendered it, if :func:`prepare` has done so."""
    try:
        return _rendered.get(tts, {}).get(text)
    except TypeError:  # an engine object that cannot be weakly referenced keeps no cache
        return None


async def prepare(tts: TextToSpeech, text: str) -> None:
    """Render ``text`` with ``tts`` unless already done; a failure is logged and tried next time."""
    if cached(tts, text) is not None:
        return
    try:
        with anyio.fail_after(RENDER_SECONDS):
            audio = tuple([chunk async for chunk in tts.synthesize(text)])
    except Exception as exc:
        _log.warning(
            "the fallback line could not be rendered (%s); trying again on the next call", failure_cause(exc)
        )
        return
    if not audio:
        _log.warning("the fallback line rendered as no audio; trying again on the next call")
        return
    try:
        _rendered.setdefault(tts, {})[text] = audio
    except TypeError:
        _log.warning("%s cannot be weakly referenced, so its fallback line is not kept", type(tts).__name__)
