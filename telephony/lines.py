"""What the bot says on its own, when no agent reply is there to say.

Kept together so they read as one voice, and so tests and docs quote the same words.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AGENT_FALLBACK",
    "DEFAULT_GREETING",
    "HOLDING_LINE",
    "NO_INPUT_GOODBYE",
    "REPROMPT",
    "SHUTDOWN_GOODBYE",
    "TTS_FALLBACK",
]

DEFAULT_GREETING: Final = "Hello! How can I help you today?"
"""The first line of an inbound conversation when ``inboundGreeting`` is not set."""

REPROMPT: Final = "Sorry, I didn't catch that. Could you say it again?"
"""After a turn in which the caller said nothing (or nothing could be recognised)."""

NO_INPUT_GOODBYE: Final = "I haven't heard anything, so I'll hang up now. Goodbye!"
"""After more silent turns in a row than ``noInputRetries``."""

AGENT_FALLBACK: Final = "Sorry, I'm having trouble answering right now. Could you say that again?"
"""Instead of a reply the agent could not give (it failed, stalled, answered blank or died)."""

HOLDING_LINE: Final = "One moment, please."
"""After ``holdingLineAfterMs`` while the agent still thinks (either media); never transcribed."""

TTS_FALLBACK: Final = "Sorry, I couldn't say that. Could you ask me again?"
"""Instead of a line whose speech synthesis failed or stalled (stream mode); rendered in advance."""

SHUTDOWN_GOODBYE: Final = "I'm sorry, I have to end this call now. Please call back in a moment. Goodbye!"
"""To a stream call still live when a stopping server's drain time is up."""
