"""Call identity: which call, which kind of callback, which turn, as one typed value.

Carriers echo it back to us: markup carriers in the callback URL's query string, command
carriers in an opaque client-state string. Both renderings live here, so every adapter reads
and writes them the same way and none keeps per-call memory.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Final

import msgspec

from ._numbers import parse_decimal

CALL_ID: Final = "callId"
KIND: Final = "kind"
TURN: Final = "turn"

#: Longest client state we accept back; ours is well under this.
MAX_CLIENT_STATE: Final = 1024


class CallIdentity(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who a callback is about.

    Attributes:
        call_id: Our call id.
        kind: What the callback answers (``answer``, ``status``, ``gather``, ``pending``...).
        turn: The listening turn a gather result belongs to; a result for an earlier turn is
            stale and the engine drops it.
    """

    call_id: str
    kind: str | None = None
    turn: int | None = None

    def query(self) -> dict[str, str]:
        """The query parameters a markup carrier's callback URL carries."""
        params = {CALL_ID: self.call_id}
        if self.kind:
            params[KIND] = self.kind
        if self.turn:
            params[TURN] = str(self.turn)
        return params

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> CallIdentity | None:
        """Read what :meth:`query` wrote; None when the URL names no call (a console-set URL)."""
        call_id = query.get(CALL_ID)
        if not call_id:
            return None
        return cls(
            call_id=call_id,
            kind=query.get(KIND) or None,
            turn=parse_decimal(query.get(TURN), max_digits=9),
        )

    def client_state(self) -> str:
        """The opaque string a command carrier echoes back (base64 of compact JSON)."""
        return base64.b64encode(_ENCODER.encode(self)).decode()

    @classmethod
    def from_client_state(cls, value: str | None) -> CallIdentity | None:
        """Read what :meth:`client_state` wrote; None for absent or foreign client state."""
        if not value or len(value) > MAX_CLIENT_STATE:
            return None
        try:
            identity = _DECODER.decode(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError, msgspec.DecodeError):
            return None
        return identity if identity.call_id else None


_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(CallIdentity)
