"""The ``telephony`` command, the control-API client it drives, and the offline demo.

``main`` is the console script. The client and the demo load on first use, so ``telephony
calls`` starts without importing the server or the audio stack.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from ._command import build_parser, main

if _typing.TYPE_CHECKING:
    from ._client import ControlClient, ControlError, ServerUnavailable, server_url
    from ._demo import (
        CALLER_NUMBER,
        CALLER_VOICE,
        DEMO_NUMBER,
        MARKUP_SCRIPT,
        STREAM_SCRIPT,
        caller_voice,
        demo_config,
        run_demo,
    )

_LAZY: _typing.Final = {
    **dict.fromkeys(("ControlClient", "ControlError", "ServerUnavailable", "server_url"), "._client"),
    **dict.fromkeys(
        (
            "CALLER_NUMBER",
            "CALLER_VOICE",
            "DEMO_NUMBER",
            "MARKUP_SCRIPT",
            "STREAM_SCRIPT",
            "caller_voice",
            "demo_config",
            "run_demo",
        ),
        "._demo",
    ),
}

__all__ = [
    "CALLER_NUMBER",
    "CALLER_VOICE",
    "DEMO_NUMBER",
    "MARKUP_SCRIPT",
    "STREAM_SCRIPT",
    "ControlClient",
    "ControlError",
    "ServerUnavailable",
    "build_parser",
    "caller_voice",
    "demo_config",
    "main",
    "run_demo",
    "server_url",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
