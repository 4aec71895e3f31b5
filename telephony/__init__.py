"""Provider-agnostic telephony for AI voice agents.

Embed it::

    from telephony import create_app, load_config

    app = create_app(load_config("voice.toml"))  # a Litestar app; serve it with uvicorn

or run ``telephony serve``. To mount it in a host app, see :class:`TelephonyPlugin` (Litestar)
and :func:`serving` (the lifespan of a Starlette or FastAPI host). Carriers, agents and speech
engines are adapters found through entry points; ``telephony.providers`` holds the contracts they
implement.

Importing this package is cheap: the names below load their modules on first use, so an adapter
that imports ``telephony.providers`` does not pull in the server, audio or speech engines.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config, ConfigError, config_from_mapping, load_config
    from .embedding import TelephonyPlugin, serving
    from .engine import ConversationEngine
    from .runtime import Runtime
    from .server import create_app

__all__ = [
    "Config",
    "ConfigError",
    "ConversationEngine",
    "Runtime",
    "TelephonyPlugin",
    "config_from_mapping",
    "create_app",
    "load_config",
    "serving",
]
__version__ = "0.1.0"

_HOMES = {
    "Config": ".config",
    "ConfigError": ".config",
    "config_from_mapping": ".config",
    "load_config": ".config",
    "ConversationEngine": ".engine",
    "Runtime": ".runtime",
    "TelephonyPlugin": ".embedding",
    "serving": ".embedding",
    "create_app": ".server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'telephony' has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
