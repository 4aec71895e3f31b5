"""Everything a running server needs, built once from config, closed once on shutdown."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from telephony.providers import Agent, Carrier, CarrierContext, SpeechToText, TelephonyError, TextToSpeech

from .config import Config, ConfigError
from .engine import ConversationEngine
from .plugins import load_agent, load_carrier, load_stt, load_tts
from .routes import Routes
from .startup import usable_store_dir
from .store import CallStore, open_store

_log = logging.getLogger("telephony")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def routes_for(config: Config) -> Routes:
    """The one route object: what the server mounts is what markup advertises."""
    public = config.public_url or f"http://{config.serve.bind}:{config.serve.port}"
    stream_path = config.streaming.stream_path if config.streaming.enabled else None
    if stream_path == config.serve.path:
        raise ConfigError("streaming.streamPath must differ from serve.path", path="streaming.streamPath")
    return Routes(public_url=public.rstrip("/"), webhook_path=config.serve.path, stream_path=stream_path)


@dataclass
class Runtime:
    """The engine and its parts.

    Build with :meth:`build`; pass parts in to replace them (tests, embedding).
    """

    config: Config
    routes: Routes
    carrier: Carrier
    store: CallStore
    agent: Agent
    tts: TextToSpeech | None
    stt: SpeechToText | None
    engine: ConversationEngine

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
    ) -> Runtime:
        """Resolve every part, refusing to start with a clear message when one cannot work."""
        if not config.enabled:
            raise ConfigError("the config has enabled: false; set it to true to serve calls", path="enabled")
        routes = routes_for(config)
        if not is_loopback(config.serve.bind) and not config.control_token:
            raise ConfigError(
                f"serve.bind is {config.serve.bind!r} (beyond loopback) but no controlToken is set; "
                "set controlToken or TELEPHONY_CONTROL_TOKEN to protect the control API",
                path="controlToken",
            )
        if config.public_url is None and config.provider != "local":
            _log.warning(
                "publicUrl is not set: %s will be told to call back %s, which it cannot reach; "
                "set publicUrl to the https origin of your tunnel or proxy",
                config.provider,
                routes.public_url,
            )
        if config.skip_signature_verification:
            _log.warning("SECURITY: skipSignatureVerification is ON: webhooks are not authenticated")
        context = CarrierContext(
            public_url=routes.public_url,
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
        store = store or open_store("sqlite", usable_store_dir(config))
        engine = ConversationEngine(config=config, carrier=carrier, store=store, agent=agent, routes=routes)
        return cls(config, routes, carrier, store, agent, tts, stt, engine)

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
