"""Start-up checks of what the config names outside the adapters.

A mistake stops the server with one line naming the key, instead of a traceback or a failure on
the first call. Adapter settings and names are checked where adapters are built
(:mod:`telephony.plugins`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .config.errors import ConfigError

if TYPE_CHECKING:
    from .config.schema import Config

__all__ = ["usable_store_dir"]


def usable_store_dir(config: Config) -> Path:
    """The ``store`` directory, created if missing, once a file has been written and removed there.

    Raises:
        ConfigError: naming ``store`` when the directory cannot be created or written (a file in
            its place, no permission, a read-only disk).
    """
    try:
        directory = config.store_dir
    except RuntimeError as exc:  # "~user" for an unknown user, or no home directory
        raise ConfigError(f"store: cannot use {config.store!r}: {exc}", path="store") from None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-check-", dir=directory)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"store: cannot use {str(directory)!r} as the data directory: {reason}", path="store"
        ) from None
    return directory
