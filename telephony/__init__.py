"""Provider-agnostic telephony for AI voice agents.

Embed it::

    from telephony import create_app, load_config

    app = create_app(load_config("voice.toml"))  # a Litestar app; serve it with uvicorn

or run ``telephony serve``. Carriers, agents and speech engines are adapters found through
entry points; see ``providers`` for the contracts.
"""

from __future__ import annotations

from .config import Config, ConfigError, config_from_mapping, load_config
from .engine import ConversationEngine
from .runtime import Runtime
from .server import create_app

__all__ = [
    "Config",
    "ConfigError",
    "ConversationEngine",
    "Runtime",
    "config_from_mapping",
    "create_app",
    "load_config",
]
__version__ = "0.1.0"
