"""Neutral (OpenAI) voice names mapped to Twilio ``<Say>`` voices.

Markup speech is synthesized by Twilio, so a voice configured for OpenAI TTS is mapped to the
closest Amazon Polly voice instead of being sent verbatim (Twilio would reject it).
"""

from __future__ import annotations

from typing import Final

POLLY_FOR_OPENAI: Final = {
    "alloy": "Polly.Joanna",
    "echo": "Polly.Matthew",
    "fable": "Polly.Amy",
    "onyx": "Polly.Brian",
    "nova": "Polly.Salli",
    "shimmer": "Polly.Kimberly",
}


def twilio_voice(voice: str | None) -> str | None:
    """Return the Twilio voice for a neutral voice name; Twilio names pass through."""
    if voice is None:
        return None
    return POLLY_FOR_OPENAI.get(voice.lower(), voice)
