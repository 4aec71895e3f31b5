"""Serving telephony inside another application: a Litestar plugin, and one lifespan helper.

Three ways, one set of routes (:func:`telephony.server.telephony_router`):

- the app of :func:`telephony.create_app`, served alone (its lifespan starts and stops the
  runtime);
- :class:`TelephonyPlugin`, which adds the routes to a host Litestar app at a path and wires
  start-up and shutdown into the host's lifespan;
- the same app mounted in a Starlette or FastAPI host, whose lifespan does not reach mounted
  apps: the host enters :func:`serving` in its own lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin

from ..config import Config
from ..runtime import Runtime
from ._app import telephony_router

__all__ = ["TelephonyPlugin", "serving"]


@asynccontextmanager
async def serving(app: Litestar | Runtime) -> AsyncIterator[Runtime]:
    """Run telephony for the duration of the block: the lifespan of a mounted app.

    Use it in the lifespan of a Starlette or FastAPI host that mounts the app of
    :func:`telephony.create_app`. It starts the engine (re-arming timers of calls that were live
    before a restart), logs the URLs to give the carrier, and on exit stops timers and streams
    and releases pools, worker processes and the store. Until it runs, the mounted routes answer
    503, so a missing start-up cannot go unnoticed.

    Args:
        app: The app :func:`telephony.create_app` returned, or its runtime.

    Yields:
        The running runtime (``runtime.engine`` places calls from Python).

    Raises:
        RuntimeError: When the runtime already runs (the app is also served on its own, or
            ``serving`` was entered twice) or has been closed.
    """
    runtime = app if isinstance(app, Runtime) else _runtime_of(app)
    async with runtime.running():
        yield runtime


def _runtime_of(app: Litestar) -> Runtime:
    runtime = app.state.get("runtime")
    if not isinstance(runtime, Runtime):
        raise TypeError("serving() needs the app telephony.create_app returned, or its Runtime")
    return runtime


class TelephonyPlugin(InitPlugin):
    """Adds every telephony route to a host Litestar app at ``path``, with start-up and shutdown.

    ::

        plugin = TelephonyPlugin(load_config("voice.toml"), path="/tel")
        app = Litestar(route_handlers=[...], plugins=[plugin])

    Webhooks are then served at ``/tel`` + ``serve.path``, and every URL the server gives out
    includes ``/tel`` (once, also when ``publicUrl`` already ends with it). The runtime starts
    and stops with the host's lifespan. Nothing is written to the host's ``app.state``.

    Args:
        config: The configuration; not needed when ``runtime`` is given.
        path: Where the routes go inside the host app.
        runtime: A runtime of your own, built with ``Runtime.build(config, prefix=path)``.
        control_api: Serve ``/api/calls`` under ``path`` too; off when the host places calls
            through :attr:`runtime` itself.

    Attributes:
        runtime: The runtime the routes serve; ``runtime.engine`` places calls from Python.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        path: str = "/",
        runtime: Runtime | None = None,
        control_api: bool = True,
    ) -> None:
        prefix = path.rstrip("/")
        if runtime is None:
            if config is None:
                raise TypeError("TelephonyPlugin needs a config or a runtime")
            runtime = Runtime.build(config, prefix=prefix)
        elif runtime.routes.prefix != prefix:
            raise ValueError(
                f"the runtime was built for prefix {runtime.routes.prefix!r}, not {prefix!r}; "
                "build it with Runtime.build(config, prefix=path)"
            )
        self.runtime = runtime
        self.control_api = control_api

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add the routes and the lifespan that runs the runtime to the host's app config."""
        app_config.route_handlers.append(telephony_router(self.runtime, control_api=self.control_api))
        app_config.lifespan.append(self._lifespan)
        return app_config

    @asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncIterator[None]:
        async with self.runtime.running():
            yield
