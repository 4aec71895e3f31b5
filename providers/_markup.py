"""The responder every markup carrier shares: render the actions into one document."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ._actions import Action
from ._contracts import ReplyContext
from ._http import WebhookReply

Render = Callable[[Sequence[Action], str | None], str]
"""Renders actions (with the default voice) into the carrier's markup document."""


class MarkupResponder:
    """Answers each webhook with a markup document (TwiML, Plivo XML) built from the actions.

    A markup carrier only differs in how it renders, so it passes its renderer here instead of
    writing a responder of its own.

    Args:
        render: The carrier's renderer.
        content_type: The document's media type.
        default_voice: The configured voice, used where an action names none.
    """

    def __init__(
        self, render: Render, *, content_type: str = "application/xml", default_voice: str | None = None
    ) -> None:
        self._render = render
        self._content_type = content_type
        self._voice = default_voice

    async def respond(self, context: ReplyContext, actions: Sequence[Action]) -> WebhookReply:
        """Render ``actions`` as one document, in order."""
        return WebhookReply(content_type=self._content_type, body=self._render(actions, self._voice).encode())

    def acknowledge(self) -> WebhookReply:
        """An empty document: what a status callback expects."""
        return WebhookReply(content_type=self._content_type, body=self._render((), None).encode())
