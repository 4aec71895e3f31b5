"""A phone agent backed by OpenAI Chat Completions.

Ending the call is a function tool (``end_call``) rather than a JSON response format: ordinary
replies stay plain text, so there is nothing to parse and no way for a malformed JSON reply to
be read aloud; the rare decision to hang up is structured, and its ``goodbye`` argument carries
the last line so one request is enough.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import msgspec

from telephony.providers import Agent, AgentReply, AgentRequest

from ._client import ClientHolder, OpenAISettings, raise_api_error

if TYPE_CHECKING:
    from openai.types.chat import (
        ChatCompletionFunctionToolParam,
        ChatCompletionMessage,
        ChatCompletionMessageParam,
    )

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly, helpful voice assistant talking with someone on a phone call. "
    "Answer in one or two short sentences of plain, speakable text: no markdown, lists, emoji, "
    "URLs or symbols that cannot be read aloud. Ask one question at a time. "
    "When the caller is done or asks to hang up, call the end_call tool with a brief goodbye."
)
FALLBACK_REPLY = "Sorry, I didn't catch that. Could you say it again?"
FAREWELL = "Thank you for calling. Goodbye."
END_CALL_TOOL = "end_call"

_END_CALL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": END_CALL_TOOL,
        "description": (
            "End the phone call. Use it when the caller says goodbye, has what they need, or asks to hang up."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "goodbye": {
                    "type": "string",
                    "description": "The short last sentence to say before hanging up.",
                }
            },
            "required": ["goodbye"],
            "additionalProperties": False,
        },
    },
}
_UNSPEAKABLE = re.compile(r"[*#`]+")
_SPACES = re.compile(r"\s+")


class _EndCallArgs(msgspec.Struct, forbid_unknown_fields=False):
    goodbye: str = ""


class OpenAIAgent(Agent):
    """Answers each user turn with one short Chat Completions request.

    Args:
        settings: The parsed ``openai`` section.
    """

    def __init__(self, settings: OpenAISettings) -> None:
        self._settings = settings
        self._holder = ClientHolder(settings)

    async def reply(self, request: AgentRequest) -> AgentReply:
        """Ask the model for the next line.

        Raises:
            OpenAIAdapterError: The API failed; the core falls back to its own line.
        """
        import openai

        try:
            completion = await self._holder.client.chat.completions.create(
                model=self._settings.model,
                messages=self.build_messages(request),
                tools=[_END_CALL],
                tool_choice="auto",
            )
        except openai.OpenAIError as exc:
            raise_api_error("OpenAI chat completion", exc)
        if not completion.choices:
            return AgentReply(text=FALLBACK_REPLY)
        return _to_reply(completion.choices[0].message)

    def build_messages(self, request: AgentRequest) -> list[ChatCompletionMessageParam]:
        """The system prompt with call details, then the transcript as user/assistant turns."""
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": self._system_prompt(request)}
        ]
        for turn in request.transcript:
            text = turn.text.strip()
            if not text:
                continue
            if turn.speaker == "user":
                messages.append({"role": "user", "content": text})
            else:
                messages.append({"role": "assistant", "content": text})
        return messages

    def _system_prompt(self, request: AgentRequest) -> str:
        details = [
            f"{label}: {value}"
            for label, value in (
                ("Direction", request.direction),
                ("Caller number", request.from_number),
                ("Called number", request.to_number),
                ("Purpose of the call", request.purpose),
            )
            if value
        ]
        prompt = self._settings.system_prompt or DEFAULT_SYSTEM_PROMPT
        if details:
            prompt += "\n\nCall details:\n" + "\n".join(details)
        return prompt

    async def aclose(self) -> None:
        """Release the HTTP connection pool."""
        await self._holder.aclose()


def _to_reply(message: ChatCompletionMessage) -> AgentReply:
    """Turn the model's message into speakable text and the hang-up decision."""
    text = _speakable(message.content or "")
    goodbye = ""
    end_call = False
    for call in message.tool_calls or ():
        if call.type == "function" and call.function.name == END_CALL_TOOL:
            end_call = True
            goodbye = _speakable(_goodbye_from(call.function.arguments))
            break
    if end_call:
        return AgentReply(text=text or goodbye or FAREWELL, end_call=True)
    return AgentReply(text=text or FALLBACK_REPLY)


def _goodbye_from(arguments: str) -> str:
    """The tool's ``goodbye`` argument; models sometimes send invalid JSON, so never raise."""
    try:
        return msgspec.json.decode(arguments or "{}", type=_EndCallArgs).goodbye
    except msgspec.DecodeError:
        return ""


def _speakable(text: str) -> str:
    """Drop markdown marks a TTS engine would read aloud, and collapse whitespace."""
    return _SPACES.sub(" ", _UNSPEAKABLE.sub("", text)).strip()
