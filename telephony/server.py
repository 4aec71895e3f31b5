"""The Litestar app: webhook route, media-stream route, control API and health.

The stream route is mounted from the same :class:`Routes` object the engine builds markup URLs
with, and only when streaming is enabled; the engine cannot advertise a path that is not served.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import msgspec
from litestar import Litestar, Request, Response, WebSocket, get, post, route, websocket
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, WebSocketDisconnect
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery

from telephony.providers import TelephonyError, WebhookRejected, WebhookReply, WebhookRequest

from .config import E164, Config
from .engine import CallLimitReached, CallNotFound
from .runtime import Runtime, is_loopback
from .store import CallRecord
from .stream import StreamSession

_log = logging.getLogger("telephony.server")

MAX_WEBHOOK_BYTES = 64 * 1024
MAX_FRAME_BYTES = 64 * 1024
TRY_AGAIN_LATER = 1013


class PlaceCall(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/calls``; ``to`` must be E.164, as carriers require."""

    to: E164
    message: str | None = None
    mode: Literal["notify", "conversation"] | None = None
    media: Literal["markup", "stream"] | None = None


class SpeakBody(msgspec.Struct, forbid_unknown_fields=True):
    text: str


def _runtime(request: Request[Any, Any, Any] | WebSocket[Any, Any, Any]) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def public_request_url(request: Request[Any, Any, Any], config: Config, public_url: str) -> str:
    """The URL the carrier signed: the configured public origin plus the path and query it hit.

    Forwarded headers are trusted only when ``webhookSecurity.trustForwardingHeaders`` is on and
    the forwarded host is in ``allowedHosts`` (when that list is given).
    """
    base = public_url
    security = config.webhook_security
    forwarded = request.headers.get("x-forwarded-host")
    if security.trust_forwarding_headers and forwarded:
        remote = request.client.host if request.client else ""
        if (not security.trusted_proxy_ips or remote in security.trusted_proxy_ips) and (
            not security.allowed_hosts or forwarded in security.allowed_hosts
        ):
            proto = request.headers.get("x-forwarded-proto", "https")
            base = f"{proto}://{forwarded}"
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{base.rstrip('/')}{request.url.path}" + (f"?{query}" if query else "")


def _reply(status: int, reason: str) -> Response[bytes]:
    return Response(content=reason.encode(), status_code=status, media_type="text/plain")


async def _webhook(request: Request[Any, Any, Any]) -> Response[bytes]:
    runtime = _runtime(request)
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        return _reply(413, "webhook body too large")
    hook = WebhookRequest(
        method=request.method,
        url=public_request_url(request, runtime.config, runtime.routes.public_url),
        headers={key.lower(): value for key, value in request.headers.items()},
        body=body,
    )
    carrier = runtime.carrier
    try:
        carrier.verifier.verify(hook)
        event = carrier.parser.parse(hook)
    except WebhookRejected as exc:
        _log.warning("webhook rejected (%s): %s", exc.status, exc.reason)
        return _reply(exc.status, exc.reason)
    except Exception:
        _log.exception(
            "the %s adapter failed on a webhook; answering 500 so the carrier retries", carrier.name
        )
        return _reply(500, "webhook handling failed")
    if event is None:  # authentic, but not an event we act on
        return _answer(carrier.responder.acknowledge())
    store = runtime.store
    if not await store.claim_event(event.event_id, event.call_id):
        cached = await store.get_reply(event.event_id)
        _log.info("duplicate webhook %s answered from cache", event.event_id[:12])
        if cached is not None:
            return Response(content=cached[1], media_type=cached[0], status_code=200)
        return _answer(carrier.responder.acknowledge())
    instructions = None
    try:
        instructions = await runtime.engine.handle_event(event)
        if instructions is None:
            answer = carrier.responder.acknowledge()
        else:
            answer = await carrier.responder.respond(instructions.context, instructions.actions)
            await store.set_reply(event.event_id, answer.content_type, answer.body)
    except Exception:
        # Unclaim, so the carrier's retry of this webhook is handled instead of acknowledged.
        await store.release_event(event.event_id)
        if instructions is not None:
            await runtime.engine.forget(instructions)
        _log.exception(
            "call %s: handling %s failed; the carrier's retry will run it again",
            event.call_id or event.provider_call_id,
            type(event).__name__,
        )
        return _reply(500, "webhook handling failed")
    return _answer(answer)


def _answer(answer: WebhookReply) -> Response[bytes]:
    return Response(content=answer.body, media_type=answer.content_type, status_code=answer.status)


class _LitestarSocket:
    """Adapts Litestar's WebSocket to the session's :class:`FrameSocket`, with a frame size cap."""

    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        self._socket = socket
        self._closed = False

    async def receive(self) -> str | bytes | None:
        if self._closed:
            return None
        try:
            frame: str | bytes = await self._socket.receive_data(mode="text")
        except WebSocketDisconnect:
            self._closed = True
            return None
        if len(frame) > MAX_FRAME_BYTES:
            await self.close(1009, "frame too large")
            return None
        return frame

    async def send(self, frame: str) -> None:
        if not self._closed:
            try:
                await self._socket.send_text(frame)
            except (WebSocketDisconnect, RuntimeError):
                self._closed = True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self._socket.close(code=code, reason=reason)


async def _stream(socket: WebSocket[Any, Any, Any]) -> None:
    runtime = _runtime(socket)
    assert runtime.tts is not None and runtime.stt is not None  # guaranteed by Runtime.build
    await socket.accept()
    state = socket.app.state
    if state.streams >= runtime.config.streaming.max_connections:
        _log.warning(
            "stream refused: streaming.maxConnections (%s) reached", runtime.config.streaming.max_connections
        )
        await socket.close(code=TRY_AGAIN_LATER, reason="too many streams")
        return
    state.streams += 1
    try:
        await _serve_stream(socket, runtime)
    finally:
        state.streams -= 1


async def _serve_stream(socket: WebSocket[Any, Any, Any], runtime: Runtime) -> None:
    assert runtime.tts is not None and runtime.stt is not None
    session = StreamSession(
        engine=runtime.engine,
        codec=runtime.carrier.codec,
        tts=runtime.tts,
        stt=runtime.stt,
        socket=_LitestarSocket(socket),
        pre_start_timeout=runtime.config.streaming.pre_start_timeout_ms / 1000,
    )
    await session.run()
    await session.socket.close()


# ---------------------------------------------------------------------- control API


_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


def _control_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Require ``Authorization: Bearer <controlToken>`` when a token is configured.

    Without a token, only direct requests are served: a tunnel to a loopback server (the usual
    way to receive webhooks) would otherwise expose call placing to the internet. Tunnels and
    proxies announce themselves with forwarding headers.
    """
    token = connection.app.state.runtime.config.control_token
    if not token:
        if any(name in connection.headers for name in _PROXY_HEADERS):
            raise PermissionDeniedException("the control API needs controlToken when reached through a proxy")
        return
    given = connection.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise NotAuthorizedException("control API needs a valid bearer token")


_INTERNAL_FIELDS = ("pending", "provisional_id")
_COUNTERS = {  # typed fields, also shown under the ``metadata`` names clients already read
    "answered_by": "answeredBy",
    "turn_count": "turnCount",
    "last_turn_latency_ms": "lastTurnLatencyMs",
    "barge_ins": "bargeIns",
    "recordings": "recordings",
    "gather_turn": "gatherSeq",
}


def _view(record: CallRecord) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(record)
    for name in _INTERNAL_FIELDS:
        data.pop(name, None)
    legacy = {old: data[new] for new, old in _COUNTERS.items() if data.get(new)}
    data["metadata"] = {**legacy, **data.get("metadata", {})}
    return data


@post("/api/calls", guards=[_control_guard], status_code=201)
async def place_call(request: Request[Any, Any, Any]) -> Response[Any]:
    try:
        body = msgspec.json.decode(await request.body(), type=PlaceCall)
    except msgspec.ValidationError as exc:
        message = "`to` must be an E.164 number such as +14155550100" if "`$.to`" in str(exc) else str(exc)
        return Response({"error": f"invalid request: {message}"}, status_code=400)
    except msgspec.DecodeError as exc:
        return Response({"error": f"invalid request: {exc}"}, status_code=400)
    try:
        record = await _runtime(request).engine.place_call(
            to=body.to, message=body.message, mode=body.mode, media=body.media
        )
    except CallLimitReached as exc:
        return Response({"error": str(exc)}, status_code=429)
    except TelephonyError as exc:
        return Response({"error": str(exc)}, status_code=400)
    return Response(_view(record), status_code=201)


@get("/api/calls", guards=[_control_guard])
async def list_calls(
    request: Request[Any, Any, Any], active: FromQuery[bool] = False
) -> list[dict[str, Any]]:
    return [_view(r) for r in await _runtime(request).store.list_calls(active_only=active)]


@get("/api/calls/{call_id:str}", guards=[_control_guard])
async def call_status(request: Request[Any, Any, Any], call_id: FromPath[str]) -> Response[Any]:
    record = await _runtime(request).store.get(call_id)
    if record is None:
        return Response({"error": f"no call {call_id!r}"}, status_code=404)
    return Response(_view(record))


async def _control(action: Any) -> Response[Any]:
    try:
        record = await action
    except CallNotFound as exc:
        return Response({"error": str(exc)}, status_code=404)
    except TelephonyError as exc:
        return Response({"error": str(exc)}, status_code=409)
    return Response(_view(record))


@post("/api/calls/{call_id:str}/speak", guards=[_control_guard], status_code=200)
async def speak(request: Request[Any, Any, Any], call_id: FromPath[str]) -> Response[Any]:
    try:
        body = msgspec.json.decode(await request.body(), type=SpeakBody)
    except msgspec.DecodeError as exc:
        return Response({"error": f"invalid request: {exc}"}, status_code=400)
    return await _control(_runtime(request).engine.speak(call_id, body.text))


@post("/api/calls/{call_id:str}/end", guards=[_control_guard], status_code=200)
async def end_call(request: Request[Any, Any, Any], call_id: FromPath[str]) -> Response[Any]:
    return await _control(_runtime(request).engine.end_call(call_id))


@get("/health")
async def health(request: Request[Any, Any, Any]) -> dict[str, Any]:
    runtime = _runtime(request)
    return {
        "status": "ok",
        "provider": runtime.carrier.name,
        "webhook": runtime.routes.webhook_path,
        "stream": runtime.routes.stream_path,
    }


def create_app(config: Config, *, runtime: Runtime | None = None) -> Litestar:
    """Build the Litestar app for ``config`` (embed it, or serve it with uvicorn).

    Raises:
        ConfigError: when the config cannot work (streaming without speech engines, an
            exposed control API without a token, a carrier without credentials).
    """
    runtime = runtime or Runtime.build(config)
    routes = runtime.routes
    handlers: list[Any] = [
        route(routes.webhook_path, http_method=["GET", "POST"], request_max_body_size=MAX_WEBHOOK_BYTES)(
            _webhook
        ),
        place_call,
        list_calls,
        call_status,
        speak,
        end_call,
        health,
    ]
    if routes.stream_path is not None:
        handlers.append(websocket(routes.stream_path)(_stream))

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await runtime.engine.start()
        try:
            yield
        finally:
            await runtime.aclose()

    # logging_config=None: an embedded app must not reconfigure its host's logging.
    app = Litestar(route_handlers=handlers, lifespan=[lifespan], debug=False, logging_config=None)
    app.state.runtime = runtime
    app.state.streams = 0
    if not is_loopback(config.serve.bind):
        _log.info("control API protected by bearer token")
    return app
