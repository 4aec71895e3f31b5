"""How a failure of an agent, a speech engine or a carrier is described in a log line.

A cause names the exception's type and its message, so the log says why, not just that; the
message is capped and anything shaped like a credential is masked, because an engine's error
text may echo a key or a token it was given.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["failure_cause"]

_SECRET: Final = re.compile(
    r"(?i)((?:api[_-]?key|token|secret|password|authorization)[\"']?\s*[:=]\s*[\"']?(?:bearer\s+|basic\s+)?"
    r"|bearer\s+|basic\s+)\S+"
    r"|\b(?:sk|rk|pk|key|AC|SK)[-_]?[A-Za-z0-9_-]{16,}\b"
)
_MAX: Final = 200


def failure_cause(exc: BaseException) -> str:
    """``Type: message`` of ``exc``, capped, with credential-like parts masked."""
    text = " ".join(str(exc).split())
    text = _SECRET.sub(lambda m: (m.group(1) or "") + "***", text)
    if len(text) > _MAX:
        text = text[: _MAX - 3] + "..."
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
