"""Everything a running server needs, built once from config, closed once on shutdown."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

from telephony.providers import Agent, Carrier, CarrierContext, SpeechToText, TelephonyError, TextToSpeech

from .bus import bus_for
from .config import Config, ConfigError
from .drain import drain_streams
from .engine import ConversationEngine
from .observability import Metrics
from .plugins import load_agent, load_carrier, load_stt, load_tts
from .routes import Routes
from .startup import config_warnings, describe_store, usable_store
from .store import CallStore, StoreHealth, TimedStore
from .urls import public_base, redact

__all__ = ["Runtime", "console_urls", "is_loopback", "is_loopback_address", "routes_for"]

_log = logging.getLogger("telephony")


def is_loopback_address(host: str | None) -> bool:
    """Whether ``host`` is a loopback address of this machine (IPv4, IPv6 or IPv4-mapped IPv6)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine's loopback."""
    return host == "localhost" or is_loopback_address(host)


def routes_for(config: Config, *, mount_path: str = "", prefix: str = "") -> Routes:
    """The one route object: what the server mounts is what markup advertises.

    Args:
        config: The configuration; ``publicUrl`` may be a base or the full webhook URL.
        mount_path: Where a host mounts the app (a Starlette ``Mount`` path), for URLs given
            out outside a request.
        prefix: The path the routes are registered under inside the app (the Litestar plugin).
    """
    stream_path = config.streaming.stream_path if config.streaming.enabled else None
    if stream_path == config.serve.path:
        raise ConfigError("streaming.streamPath must differ from serve.path", path="streaming.streamPath")
    for name, value in (("mount_path", mount_path), ("prefix", prefix)):
        if value and not value.startswith("/"):
            raise ValueError(f"{name} must start with '/', got {value!r}")
    configured = config.public_url or f"http://{config.serve.bind}:{config.serve.port}"
    public = public_base(configured, config.serve.path)
    if public.ignored:
        # Not echoed: a query string is where people put tokens.
        _log.warning(
            "publicUrl has a query string or fragment; no URL given to the carrier keeps it, so it is ignored"
        )
    return Routes(
        public_url=public.base,
        webhook_path=config.serve.path,
        stream_path=stream_path,
        root_path=mount_path.rstrip("/"),
        prefix=prefix.rstrip("/"),
    )


def console_urls(routes: Routes) -> dict[str, str]:
    """The URLs to paste into a carrier's console, by what they are for."""
    urls = {
        "webhook (a call comes in)": routes.webhook_url(),
        "status callback (call status changes)": routes.webhook_url(kind="status"),
    }
    if routes.stream_path is not None:
        urls["media stream (sent to the carrier with each call; nothing to paste)"] = routes.stream_url()
    return urls


@dataclass
class Runtime:
    """The engine and its parts.

    Build with :meth:`build`; pass parts in to replace them (tests, embedding). Run it with
    :meth:`running`, which the app's lifespan (or a host's) enters exactly once.
    """

    config: Config
    routes: Routes
    carrier: Carrier
    store: CallStore
    agent: Agent
    tts: TextToSpeech | None
    stt: SpeechToText | None
    engine: ConversationEngine
    state: Literal["built", "running", "closed"] = "built"
    metrics: Metrics = field(default_factory=Metrics)
    store_health: StoreHealth = field(default_factory=StoreHealth)
    """Whether the store answers, as its operations find it (``/health`` reads it)."""

    @classmethod
    def build(
        cls,
        config: Config,
        *,
        carrier: Carrier | None = None,
        store: CallStore | None = None,
        agent: Agent | None = None,
        tts: TextToSpeech | None = None,
        stt: SpeechToText | None = None,
        mount_path: str = "",
        prefix: str = "",
    ) -> Runtime:
        """Resolve every part, refusing to start with a clear message when one cannot work.

        Args:
            config: The configuration.
            carrier: Replaces the carrier named by ``provider``.
            store: Replaces the store ``store`` names (a SQLite directory or a Redis URL).
            agent: Replaces the agent named by ``agent``.
            tts: Replaces the TTS engine (stream mode).
            stt: Replaces the STT engine (stream mode).
            mount_path: Where a host mounts the app (Starlette ``Mount``, FastAPI
                ``app.mount``), so URLs given out before any request include it.
            prefix: The path the routes are registered under inside the app (set by the
                Litestar plugin).
        """
        if not config.enabled:
            raise ConfigError("the config has enabled: false; set it to true to serve calls", path="enabled")
        routes = routes_for(config, mount_path=mount_path, prefix=prefix)
        if config.public_url is None and config.provider != "local":
            _log.warning(
                "publicUrl is not set: %s will be told to call back %s, which it cannot reach; "
                "set publicUrl to the https origin of your tunnel or proxy",
                config.provider,
                redact(routes.base_url()),
            )
        if config.skip_signature_verification:
            _log.warning("SECURITY: skipSignatureVerification is ON: webhooks are not authenticated")
        for warning in config_warnings(config):
            _log.warning("%s", warning)
        context = CarrierContext(
            public_url=routes.base_url(),
            webhook_url=routes.webhook_url(),
            skip_signature_verification=config.skip_signature_verification,
            voice=config.tts.voice,
            language=config.language,
        )
        try:
            carrier = carrier or load_carrier(config, context)
            agent = agent or load_agent(config)
            if config.streaming.enabled:
                tts = tts or load_tts(config)
                stt = stt or load_stt(config)
        except ConfigError:
            raise
        except TelephonyError as exc:
            raise ConfigError(f"cannot start: {exc}") from None
        except Exception as exc:
            what = "streaming is enabled but its speech engines" if config.streaming.enabled else "an engine"
            raise ConfigError(f"cannot start: {what} could not be loaded: {exc}") from exc
        metrics = Metrics()
        if store is None:
            store = usable_store(config)
            _log.info("call store: %s", describe_store(config))
        # Timed whatever the backend, so /metrics shows store latency for a custom store too.
        health = StoreHealth()
        timed = TimedStore(store, metrics.observe_store, health=health)
        engine = ConversationEngine(
            config=config,
            carrier=carrier,
            store=timed,
            agent=agent,
            routes=routes,
            metrics=metrics,
            bus=bus_for(store),
            store_health=health,
        )
        return cls(
            config, routes, carrier, timed, agent, tts, stt, engine, metrics=metrics, store_health=health
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Runtime]:
        """Start the engine, log the URLs to give the carrier, and close everything on exit.

        The app's own lifespan enters this; a host that mounts the app where its lifespan does
        not run (Starlette, FastAPI) enters it from the host's lifespan instead, through
        :func:`telephony.serving`.

        Raises:
            RuntimeError: When the runtime is already running or was closed: a second start
                would arm every timer twice, and a closed store cannot be reopened.
        """
        if self.state != "built":
            raise RuntimeError(f"this telephony runtime is {self.state}; it runs once, in one lifespan")
        self.state = "running"
        try:
            async with self.engine.running():
                for purpose, url in console_urls(self.routes).items():
                    _log.info("%s URL for %s: %s", self.carrier.name, purpose, redact(url))
                yield self
        finally:
            self.state = "closed"
            await self.aclose()

    async def drain(self, seconds: float | None = None) -> None:
        """Get ready to stop without cutting calls off: refuse new calls, let stream calls end.

        ``telephony serve`` runs this on SIGTERM before its server stops; a host that serves the
        app itself awaits it before stopping its server (whose shutdown closes every media
        socket). Stream calls still live after ``seconds`` (default ``serve.drainTimeoutMs``)
        hear a goodbye and are hung up. See :func:`telephony.drain.drain_streams`.
        """
        if seconds is None:
            seconds = self.config.serve.drain_timeout_ms / 1000
        await drain_streams(self.engine, seconds)

    async def aclose(self) -> None:
        """Stop timers and streams, then release pools and worker processes the parts hold."""
        await self.engine.aclose()
        await self.carrier.control.aclose()
        for part in (self.agent, self.tts, self.stt):
            # aclose is optional in the contracts: not every engine holds resources.
            close = getattr(part, "aclose", None)
            if close is not None:
                await close()
        await self.store.close()
