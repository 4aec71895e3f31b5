"""Provider-agnostic telephony for AI voice agents.

Embed it::

    from telephony import create_app, load_config

    app = create_app(load_config("voice.toml"))  # a Litestar app; serve it with uvicorn

or run ``telephony serve``. To mount it in a host app, see :class:`TelephonyPlugin` (Litestar)
and :func:`serving` (the lifespan of a Starlette or FastAPI host). Carriers, agents and speech
engines are adapters found through entry points; ``telephony.providers`` holds the contracts they
implement.

``__all__`` is the public API, with three public subpackages: ``telephony.providers`` (the
contracts adapters implement), ``telephony.config`` (the typed configuration) and
``telephony.store`` (the call stores and the protocol a store of your own implements). Every
other module is private and may change without notice (docs/embedding.md, "Public API").

Importing this package is cheap: the names below load their modules on first use, so an adapter
that imports ``telephony.providers`` does not pull in the server, audio or speech engines.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from .config import Config, ConfigError, config_from_mapping, load_config
    from .engine import CallLimitReached, CallNotFound, CallNotLive, ConversationEngine, Draining
    from .observability import SECRETS, CallContextFilter, JsonFormatter, TextFormatter, configure_logging
    from .providers import TelephonyError
    from .runtime import Runtime
    from .server import TelephonyPlugin, create_app, serve, server_limits, serving, telephony_router
    from .states import CallState
    from .store import CallRecord

__all__ = [
    "SECRETS",
    "CallContextFilter",
    "CallLimitReached",
    "CallNotFound",
    "CallNotLive",
    "CallRecord",
    "CallState",
    "Config",
    "ConfigError",
    "ConversationEngine",
    "Draining",
    "JsonFormatter",
    "Runtime",
    "TelephonyError",
    "TelephonyPlugin",
    "TextFormatter",
    "__version__",
    "config_from_mapping",
    "configure_logging",
    "create_app",
    "load_config",
    "serve",
    "server_limits",
    "serving",
    "telephony_router",
]
__version__ = "0.1.0"

# Where each name is loaded from: the core module that defines it, or the public subpackage that
# declares it (``Config`` from ``telephony.config``, ``TelephonyError`` from
# ``telephony.providers``). tests/test_exported_members.py keeps this table, ``__all__`` and
# the imports above in step.
_HOMES: dict[str, str] = {
    "Config": ".config",
    "ConfigError": ".config",
    "config_from_mapping": ".config",
    "load_config": ".config",
    "serve": ".server",
    "TelephonyPlugin": ".server",
    "serving": ".server",
    "CallLimitReached": ".engine",
    "CallNotFound": ".engine",
    "CallNotLive": ".engine",
    "ConversationEngine": ".engine",
    "Draining": ".engine",
    "SECRETS": ".observability",
    "CallContextFilter": ".observability",
    "JsonFormatter": ".observability",
    "TextFormatter": ".observability",
    "configure_logging": ".observability",
    "TelephonyError": ".providers",
    "Runtime": ".runtime",
    "create_app": ".server",
    "server_limits": ".server",
    "telephony_router": ".server",
    "CallState": ".states",
    "CallRecord": ".store",
}


def __getattr__(name: str) -> _typing.Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'telephony' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
