"""Adapter discovery through package entry points.

A third-party package adds a carrier by declaring, in its own ``pyproject.toml``::

    [project.entry-points."telephony.carriers"]
    mycarrier = "mypkg.carrier:create"

and the framework finds it by name, without any change to this repository.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final

from ._errors import AdapterNotFound
from ._settings import SettingsSchema, declared_settings

CARRIERS: Final = "telephony.carriers"
AGENTS: Final = "telephony.agents"
STT: Final = "telephony.stt"
TTS: Final = "telephony.tts"
GROUPS: Final = (CARRIERS, AGENTS, STT, TTS)


@cache
def _group(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def available(group: str) -> list[str]:
    """Names registered in ``group``, sorted."""
    return sorted(_group(group))


def load(group: str, name: str) -> Any:
    """Import and return the factory registered as ``name`` in ``group``.

    Raises:
        AdapterNotFound: with the names that are available, so a typo is easy to spot.
    """
    entry = _group(group).get(name)
    if entry is None:
        names = ", ".join(available(group)) or "none"
        raise AdapterNotFound(
            f"no adapter named {name!r} in entry-point group {group!r} (available: {names}); "
            "is the package that provides it installed?"
        )
    return entry.load()


def settings_schema(group: str, name: str) -> SettingsSchema[Any] | None:
    """The settings schema the factory registered as ``name`` declares, if any.

    Loads the factory (importing its adapter), so call it only for adapters in use.

    Raises:
        AdapterNotFound: as :func:`load`.
    """
    return declared_settings(load(group, name))
