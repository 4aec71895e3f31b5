"""What selects and configures the Redis store, importable without the ``redis`` package."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_KEY_PREFIX", "REDIS_URL_SCHEMES", "is_redis_url"]

DEFAULT_KEY_PREFIX: Final = "telephony:"
"""Where this app's keys start; give two apps on one Redis different prefixes."""

REDIS_URL_SCHEMES: Final = ("redis://", "rediss://", "unix://")


def is_redis_url(value: str) -> bool:
    """Whether a ``store`` setting names a Redis server rather than a data directory."""
    return value.startswith(REDIS_URL_SCHEMES)
