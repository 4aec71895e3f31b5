"""A small rule-based agent so a call works end to end with no model and no network."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from telephony.providers import AgentReply, AgentRequest, Turn

__all__ = ["BuiltinAgent"]

DEFAULT_GREETING = "Hello! This is the demo assistant. How can I help you today?"
DEFAULT_GOODBYE = "Thanks for calling. Goodbye!"


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b")


# Checked in order; the first match wins. Recognizers give lower-case words without
# punctuation, so the patterns avoid relying on either.
_GOODBYE = _words(
    r"good ?bye", r"bye", r"hang up", r"that'?s all", r"that is all", r"that'?s it", r"that is it",
    r"i'?m done", r"i am done", r"end (?:the|this) call",
)  # fmt: skip
_TIME = _words(r"what time", r"the time", r"time is it")
_DATE = _words(r"what day", r"the date", r"what date", r"today'?s date", r"which day")
_HELP = _words(r"help", r"what can you do", r"how does this work", r"options")
_REPEAT = _words(r"repeat", r"say (?:that|it) again", r"come again", r"pardon")
_IDENTITY = _words(r"who are you", r"your name", r"are you (?:a )?(?:robot|human|real|bot)")
_THANKS = _words(r"thanks?", r"thank you")
_GREETING = _words(r"hello", r"hi", r"hey", r"good (?:morning|afternoon|evening)")
_YES = re.compile(r"^(?:yes|yeah|yep|sure|ok|okay|of course)\b")
_NO = re.compile(r"^(?:no|nope|nothing|no thanks?(?: you)?|nothing else|not really)$")
_FILLERS = frozenset({"uh", "um", "er", "ah", "eh", "hmm", "mm", "huh", "oh"})

_ECHOES = (
    "You said: {text}. How else can I help?",
    'I heard "{text}". What else can I do for you?',
    "Got it: {text}. Is there anything else?",
)


class BuiltinAgent:
    """:class:`~providers.Agent` that greets, answers time, date and help, echoes the rest.

    Deterministic for a given transcript and clock, which makes calls reproducible in tests
    and demos; it ends the call when the caller says goodbye.

    Args:
        greeting: The first line, said before the caller has spoken.
        goodbye: The last line, said before hanging up.
        clock: Returns "now" for time and date answers (injectable for tests).
    """

    def __init__(
        self,
        *,
        greeting: str = DEFAULT_GREETING,
        goodbye: str = DEFAULT_GOODBYE,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.greeting = greeting
        self.goodbye = goodbye
        self._clock = clock

    async def reply(self, request: AgentRequest) -> AgentReply:
        """Answer the caller's latest line (or greet when they have not spoken yet)."""
        users = [turn for turn in request.transcript if turn.speaker == "user"]
        if not users:
            return AgentReply(text=self.greeting)
        return self._answer(users[-1].text, len(users), _last_bot_line(request.transcript))

    def _answer(self, said: str, user_turns: int, last_bot: str | None) -> AgentReply:
        text = " ".join(re.sub(r"[^\w' ]+", " ", said.lower()).split())
        if not text or all(word in _FILLERS for word in text.split()):
            return AgentReply(text="Sorry, I didn't catch that. Could you say it again?")
        if _GOODBYE.search(text) or (_NO.match(text) and last_bot is not None and last_bot.endswith("?")):
            return AgentReply(text=self.goodbye, end_call=True)
        now = self._clock()
        if _TIME.search(text):
            hour = now.hour % 12 or 12
            return AgentReply(text=f"It's {hour}:{now.minute:02d} {'AM' if now.hour < 12 else 'PM'}.")
        if _DATE.search(text):
            return AgentReply(text=f"Today is {now:%A, %B} {now.day}, {now.year}.")
        if _HELP.search(text):
            return AgentReply(
                text="I can tell you the time or the date, or repeat what you say. "
                "Say goodbye when you're done."
            )
        if _REPEAT.search(text) and last_bot is not None:
            return AgentReply(text=f"I said: {last_bot}")
        if _IDENTITY.search(text):
            return AgentReply(text="I'm the built-in demo assistant. I run entirely on this computer.")
        if _THANKS.search(text):
            return AgentReply(text="You're welcome. Is there anything else?")
        if _GREETING.search(text):
            return AgentReply(text="Hi there! What can I do for you?")
        if _YES.match(text):
            return AgentReply(text="Great. What can I do for you?")
        template = _ECHOES[(user_turns - 1) % len(_ECHOES)]
        # The template adds its own punctuation; "a minute.." would read (and sound) wrong.
        return AgentReply(text=template.format(text=said.strip().rstrip(".!?,;: ")))


def _last_bot_line(transcript: tuple[Turn, ...]) -> str | None:
    for turn in reversed(transcript):
        if turn.speaker == "bot":
            return turn.text
    return None
