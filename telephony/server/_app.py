"""The telephony routes as one Litestar router, and the standalone app around it.

The stream route is mounted from the same :class:`Routes` object the engine builds markup URLs
with, and only when streaming is enabled; the engine cannot advertise a path that is not served.
The router is what every way of serving shares: :func:`create_app` wraps it in an app of its own,
and :class:`~telephony.server.TelephonyPlugin` adds it to a host's Litestar app at a path.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal, TypeVar

import anyio
import msgspec
from litestar import Litestar, Request, Response, Router, WebSocket, get, post, route, websocket
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, WebSocketDisconnect
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath, FromQuery
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from telephony.providers import WebhookRejected, WebhookReply, WebhookRequest

from ..config import E164, Config
from ..media import (
    POLICY_VIOLATION,
    TRY_AGAIN_LATER,
    StreamCredential,
    StreamSession,
    StreamSlot,
    StreamSlots,
    StreamSlotsFull,
    admit_upgrade,
    refuse_stream,
)
from ..observability import CONTENT_TYPE, Metrics, bind_call, call_context, hide_secrets
from ..routes import Routes, request_root_path
from ..runtime import Runtime, is_loopback_address
from ..store import CallRecord, StoreUnavailable
from ..urls import with_origin
from ._claims import WebhookClaims
from ._control_guard import ControlGuard, TokenAttempts, is_proxied
from ._errors import JSON_ERRORS, TEXT_ERRORS, InvalidRequest, NotServing, TextTooLong, log_refusal
from ._openapi import documented, openapi_config, schemas
from ._request_deadline import request_deadline_protocol
from ._store_outage import StoreOutage, held_event

__all__ = [
    "HEALTH_PROBE_SECONDS",
    "MAX_CONTROL_BYTES",
    "MAX_FRAME_BYTES",
    "MAX_TEXT_CHARS",
    "MAX_WEBHOOK_BYTES",
    "PlaceCall",
    "SpeakBody",
    "Text",
    "client_address",
    "create_app",
    "server_limits",
    "signed_url",
    "telephony_router",
]

_log = logging.getLogger("telephony.server")

MAX_WEBHOOK_BYTES = 64 * 1024
MAX_FRAME_BYTES = 64 * 1024

#: The key under which a router's handlers find what they serve, in the router's ``opt``.
_SERVED: Final = "telephony"


MAX_CONTROL_BYTES: Final = 16 * 1024
"""A control request's body; anything larger is refused with 413 before it is read."""

MAX_TEXT_CHARS: Final = 4000
"""The longest line the control API takes to say: minutes of speech, within every carrier's limit."""

Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)]


class PlaceCall(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/calls``; ``to`` must be E.164, as carriers require."""

    to: E164
    message: Text | None = None
    mode: Literal["notify", "conversation"] | None = None
    media: Literal["markup", "stream"] | None = None


class SpeakBody(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/calls/{id}/speak``."""

    text: Annotated[Text, msgspec.Meta(min_length=1)]


_Body = TypeVar("_Body", PlaceCall, SpeakBody)


@dataclass
class _Served:
    """What one router serves: the runtime, and the little state its routes share.

    Kept in the router's ``opt`` rather than in ``app.state``, so a host app's state is not
    touched and two routers in one app do not share counters.
    """

    runtime: Runtime
    slots: StreamSlots = field(init=False)
    mount_warned: bool = False
    claims: WebhookClaims = field(init=False)
    guard: ControlGuard = field(init=False)
    attempts: TokenAttempts = field(default_factory=TokenAttempts)
    outage: StoreOutage = field(init=False)

    def __post_init__(self) -> None:
        config = self.runtime.config
        lease = config.webhook_lease_ms / 1000
        self.claims = WebhookClaims(
            # A copy waits as long as the original's turn may take: the agent's limit, and a margin.
            self.runtime.store,
            lease_seconds=lease,
            wait_seconds=config.response_timeout_ms / 1000 + lease,
        )
        self.guard = ControlGuard(self.runtime.routes.public_url, config.serve.allowed_hosts)
        self.outage = StoreOutage(self.runtime.engine, self.claims)
        streaming = config.streaming
        self.slots = StreamSlots(
            max_pending=streaming.max_pending_connections,
            max_pending_per_address=streaming.max_pending_connections_per_ip,
            max_live=streaming.max_connections,
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> _Served:
        # Litestar deep-copies ``opt`` into every handler; all of them must share this one.
        return self

    def check_mount(self, root_path: str) -> None:
        """Warn once when requests reveal a mount that URLs built outside a request lack."""
        routes = self.runtime.routes
        if self.mount_warned or routes.base_url(root_path) == routes.base_url(routes.root_path):
            return
        self.mount_warned = True
        _log.warning(
            "telephony is mounted at %r, which neither publicUrl nor mount_path includes: URLs given "
            "out outside a request (the start-up log, calls placed from Python) lack it; pass "
            "mount_path=%r to create_app, or add it to publicUrl",
            root_path,
            root_path,
        )


def _served(connection: ASGIConnection[Any, Any, Any, Any]) -> _Served:
    served: _Served = connection.route_handler.opt[_SERVED]
    return served


def _runtime(connection: ASGIConnection[Any, Any, Any, Any]) -> Runtime:
    return _served(connection).runtime


def _path_call_id(scope: Scope) -> str | None:
    """The ``call_id`` path parameter, if it looks like a call id (it is logged with every line)."""
    value = scope.get("path_params", {}).get("call_id")
    return value if isinstance(value, str) and value.isalnum() and len(value) <= 64 else None


def _counting_refusals(scope: Scope, send: Send, metrics: Metrics) -> Send:
    """``send``, counting (and logging, at a bounded rate) every answer with an error status."""

    async def counted(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            status = message["status"]
            metrics.rejected(status)
            if status < 500:
                log_refusal(scope, "%s %r refused (%s)", scope.get("method"), scope["path"], status)
        await send(message)

    return counted


def _serve_requests(app: ASGIApp) -> ASGIApp:
    """Router middleware: refuse while the runtime is not running; publish the request's mount.

    URLs built while the request is handled (gather actions, stream URLs, outbound callbacks)
    then include the path the host mounted the app at, exactly once. Every line logged while
    the request is handled names the carrier (and the call, once known); every error status is
    counted in the metrics.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        served: _Served = scope["route_handler"].opt[_SERVED]
        with call_context(_path_call_id(scope), served.runtime.carrier.name):
            await _serve_request(served, app, scope, receive, send)

    return middleware


async def _serve_request(served: _Served, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """One request through :func:`_serve_requests`, in its logging context."""
    metrics = served.runtime.metrics
    if served.runtime.state != "running":
        reason = (
            "telephony is not started: a host that mounts the app must run "
            "`async with telephony.serving(app):` in its lifespan"
            if served.runtime.state == "built"
            else "telephony has shut down"
        )
        if scope["type"] == ScopeType.WEBSOCKET:
            # Before the handshake a close is a refusal; 1013 tells the carrier to retry later.
            _log.error("media stream refused: %s", reason)
            metrics.rejected(TRY_AGAIN_LATER)
            await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": reason})
            return
        metrics.rejected(503)  # answered by the error handler outside this middleware
        raise NotServing(reason)
    root_path = scope.get("root_path", "")
    served.check_mount(root_path)
    if scope["type"] == ScopeType.HTTP:
        send = _counting_refusals(scope, send, metrics)
    with request_root_path(root_path):
        await app(scope, receive, send)


# ---------------------------------------------------------------------- webhooks


def signed_url(request: Request[Any, Any, Any], config: Config, routes: Routes) -> str:
    """The URL the carrier signed: the public base and mount, plus the path and query it hit.

    The base comes from ``publicUrl``, never from the ``Host`` header. Forwarded headers replace
    its scheme and host only when ``webhookSecurity.trustForwardingHeaders`` is on, the proxy is
    trusted (``trustedProxyIPs``, when given) and the forwarded host is in ``allowedHosts``
    (when given).
    """
    root_path = request.scope.get("root_path", "")
    base = routes.base_url(root_path)
    security = config.webhook_security
    forwarded = request.headers.get("x-forwarded-host")
    if (
        forwarded
        and _trusts_forwarding(request, config)
        and (not security.allowed_hosts or forwarded in security.allowed_hosts)
    ):
        base = with_origin(base, request.headers.get("x-forwarded-proto", "https"), forwarded)
    # Litestar leaves the path relative to root_path; the router's prefix is part of the base.
    path: str = request.scope["path"]
    if routes.prefix and path.startswith(routes.prefix):
        path = path[len(routes.prefix) :]
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{base}{path}" + (f"?{query}" if query else "")


def _trusts_forwarding(connection: ASGIConnection[Any, Any, Any, Any], config: Config) -> bool:
    """Whether forwarded headers speak for this connection's peer (``webhookSecurity``)."""
    security = config.webhook_security
    remote = connection.client.host if connection.client else ""
    return security.trust_forwarding_headers and (
        not security.trusted_proxy_ips or remote in security.trusted_proxy_ips
    )


def client_address(connection: ASGIConnection[Any, Any, Any, Any], config: Config) -> str:
    """The address a connection comes from, for per-address limits.

    The socket's peer, unless forwarded headers are trusted (as for the signed URL): behind a
    tunnel or proxy every peer is the proxy, and the address it forwards for is the last entry
    of ``X-Forwarded-For``, the one that proxy added.
    """
    forwarded = connection.headers.get("x-forwarded-for", "")
    if forwarded and _trusts_forwarding(connection, config):
        return forwarded.rsplit(",", 1)[-1].strip() or "unknown"
    return connection.client.host if connection.client else "unknown"


async def _webhook(request: Request[Any, Any, Any]) -> Response[bytes]:
    runtime = _runtime(request)
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise WebhookRejected(413, "webhook body too large")
    hook = WebhookRequest(
        method=request.method,
        url=signed_url(request, runtime.config, runtime.routes),
        headers={key.lower(): value for key, value in request.headers.items()},
        body=body,
    )
    carrier = runtime.carrier
    try:
        carrier.verifier.verify(hook)
    except WebhookRejected as exc:
        runtime.metrics.verification_failed(carrier.name, exc)
        raise
    event = carrier.parser.parse(hook)  # an adapter's failure is logged with its traceback, as a 500
    if event is None:  # authentic, but not an event we act on
        return _answer(carrier.responder.acknowledge())
    event, attempt = held_event(hook, event)  # a hold-on redirect's fetch stands for the turn it held
    bind_call(event.call_id or None)  # ours, when the callback names it; the engine binds it otherwise
    served = _served(request)
    try:
        answer = await served.claims.handle(event, lambda: runtime.engine.answer(event))
    except StoreUnavailable:
        # An error would end the call: hold the caller on, and serve the turn once the store is back.
        return _answer(await served.outage.hold_on(event, attempt))
    return _answer(answer or carrier.responder.acknowledge())


def _answer(answer: WebhookReply) -> Response[bytes]:
    return Response(content=answer.body, media_type=answer.content_type, status_code=answer.status)


# ---------------------------------------------------------------------- media streams


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


async def _credentialed_stream(
    socket: WebSocket[Any, Any, Any], call_id: FromPath[str], token: FromPath[str]
) -> None:
    """Serve a socket whose URL names its call and token: the credential is checked first.

    It is spent on the HTTP upgrade, before the socket is accepted. A bad one is a refused
    handshake (the server answers 403): the socket never opens, holds no slot and buffers
    nothing. A good one takes a live slot at once, whatever its address: carriers open many
    streams from a few addresses, and those never wait in the pending pool.
    """
    served = _served(socket)
    runtime = served.runtime
    credential = StreamCredential(call_id=call_id, token=token)
    try:
        refusal = await admit_upgrade(runtime.store, credential)
    except StoreUnavailable as exc:  # nothing can be checked: the carrier may try again later
        refuse_stream(runtime.metrics, TRY_AGAIN_LATER, "stream refused on the upgrade: %s", exc)
        await socket.accept()
        await socket.close(code=TRY_AGAIN_LATER, reason="store unavailable")
        return
    if refusal is not None:
        refuse_stream(runtime.metrics, 403, "stream refused on the upgrade: %s", refusal)
        await socket.close(code=POLICY_VIOLATION, reason="invalid stream credential")  # not accepted: 403
        return
    await _serve_in_slot(
        socket, runtime, lambda: served.slots.claim_live(client_address(socket, runtime.config)), credential
    )


async def _stream(socket: WebSocket[Any, Any, Any]) -> None:
    """Serve a socket on the bare stream path: pending until its start message's token is accepted.

    The second line, for sockets whose URL carries no credential (a custom adapter that renders
    no path, markup from before stream URLs carried one). The socket is accepted before it is
    refused, so the carrier sees why (1013, try again later) rather than a failed handshake.
    """
    served = _served(socket)
    runtime = served.runtime
    await _serve_in_slot(socket, runtime, lambda: served.slots.claim(client_address(socket, runtime.config)))


async def _serve_in_slot(
    socket: WebSocket[Any, Any, Any],
    runtime: Runtime,
    claim: Callable[[], StreamSlot],
    credential: StreamCredential | None = None,
) -> None:
    """Accept and serve the socket in the slot ``claim`` gives, or refuse it (1013) when none is free."""
    try:
        slot = claim()
    except StreamSlotsFull as exc:
        refuse_stream(runtime.metrics, TRY_AGAIN_LATER, "stream refused: %s", exc)
        await socket.accept()
        await socket.close(code=TRY_AGAIN_LATER, reason="too many streams")
        return
    try:
        await socket.accept()
        await _serve_stream(socket, runtime, slot, credential)
    finally:
        slot.release()


async def _serve_stream(
    socket: WebSocket[Any, Any, Any],
    runtime: Runtime,
    slot: StreamSlot,
    credential: StreamCredential | None = None,
) -> None:
    assert runtime.tts is not None and runtime.stt is not None  # guaranteed by Runtime.build

    def go_live() -> bool:
        if slot.promote():
            return True
        limit = runtime.config.streaming.max_connections
        refuse_stream(
            runtime.metrics, TRY_AGAIN_LATER, "stream refused: streaming.maxConnections (%s) reached", limit
        )
        return False

    session = StreamSession(
        engine=runtime.engine,
        codec=runtime.carrier.codec,
        tts=runtime.tts,
        stt=runtime.stt,
        socket=_LitestarSocket(socket),
        pre_start_timeout=runtime.config.streaming.pre_start_timeout_ms / 1000,
        go_live=go_live,
        credential=credential,
    )
    await session.run()
    await session.socket.close()


# ---------------------------------------------------------------------- control API


_EXAMPLE: Final = "+14155550100"


def _control_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuse what a web page could send, then require the token (or this machine without one).

    The browser checks come first and apply whatever the token setting (see
    :mod:`telephony.server._control_guard`). Without a token, only direct requests from this machine
    are served. What counts is the request's real peer address, never the address the config
    says the server binds: a host app or ``uvicorn --host 0.0.0.0`` may listen anywhere. A
    tunnel or proxy on this machine connects from loopback too, but announces itself with
    forwarding headers; those are refused, or a tunnel to a loopback server (the usual way to
    receive webhooks) would expose call placing to the internet. With a token, a client that
    keeps sending wrong ones is refused for a while, before its token is looked at.
    """
    served = _served(connection)
    config = served.runtime.config
    served.guard.check(str(connection.scope.get("method", "GET")), connection.headers)
    token = config.control_token
    if not token:
        if is_proxied(connection.headers.keys()):
            raise PermissionDeniedException(
                "the control API and /metrics need controlToken when reached through a proxy"
            )
        if not is_loopback_address(connection.client.host if connection.client else None):
            raise PermissionDeniedException(
                "the control API and /metrics answer only this machine without a controlToken; "
                "set controlToken"
            )
        return
    client = client_address(connection, config)
    served.attempts.check(client)
    given = connection.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        served.attempts.failed(client)
        raise NotAuthorizedException("control API needs a valid bearer token")
    served.attempts.succeeded(client)


_INTERNAL_FIELDS = ("pending", "provisional_id", "heard_event", "thinking", "pending_fetches")
_COUNTERS = {  # typed fields, also shown under the ``metadata`` names clients already read
    "answered_by": "answeredBy",
    "turn_count": "turnCount",
    "last_turn_latency_ms": "lastTurnLatencyMs",
    "barge_ins": "bargeIns",
    "recordings": "recordings",
    "gather_turn": "gatherSeq",
}


#: The control API's request and answer schemas, for its OpenAPI document.
_SCHEMAS: Final = schemas([PlaceCall, SpeakBody], CallRecord, _INTERNAL_FIELDS)


def _view(record: CallRecord) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(record)
    for name in _INTERNAL_FIELDS:
        data.pop(name, None)
    legacy = {old: data[new] for new, old in _COUNTERS.items() if data.get(new)}
    data["metadata"] = {**legacy, **data.get("metadata", {})}
    return data


def _decode(body: bytes, kind: type[_Body]) -> _Body:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        if "length <=" in str(exc):
            raise TextTooLong(f"invalid request: {exc}; at most {MAX_TEXT_CHARS} characters") from None
        if "`$.to`" in str(exc):
            raise InvalidRequest(
                f"invalid request: `to` must be an E.164 number such as {_EXAMPLE}"
            ) from None
        raise InvalidRequest(f"invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"invalid request: {exc}") from None


async def _place_call(request: Request[Any, Any, Any]) -> Response[Any]:
    body = _decode(await request.body(), PlaceCall)
    record = await _runtime(request).engine.place_call(
        to=body.to, message=body.message, mode=body.mode, media=body.media
    )
    return Response(_view(record), status_code=201)


async def _list_calls(
    request: Request[Any, Any, Any], active: FromQuery[bool] = False
) -> list[dict[str, Any]]:
    return [_view(r) for r in await _runtime(request).store.list_calls(active_only=active)]


async def _call_status(request: Request[Any, Any, Any], call_id: FromPath[str]) -> dict[str, Any]:
    return _view(await _runtime(request).engine.get_call(call_id))


async def _speak(request: Request[Any, Any, Any], call_id: FromPath[str]) -> dict[str, Any]:
    body = _decode(await request.body(), SpeakBody)
    return _view(await _runtime(request).engine.speak(call_id, body.text))


async def _end_call(request: Request[Any, Any, Any], call_id: FromPath[str]) -> dict[str, Any]:
    return _view(await _runtime(request).engine.end_call(call_id))


async def _metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    runtime = _runtime(request)
    return Response(content=await runtime.metrics.render(runtime.store), media_type=CONTENT_TYPE)


HEALTH_PROBE_SECONDS: Final = 1.0
"""How long ``/health`` waits for the store to answer its probe."""


async def _store_answers(runtime: Runtime) -> bool:
    """Ask the store one cheap question; its answer (or silence) is what the store health records."""
    health = runtime.store_health
    with anyio.move_on_after(HEALTH_PROBE_SECONDS):
        try:
            await runtime.store.count_active()
        except StoreUnavailable:
            return False
        return True
    health.failed(f"no answer to the health probe in {HEALTH_PROBE_SECONDS:g} s")
    return False


async def _health(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    runtime = _runtime(request)
    draining = runtime.engine.draining  # stopping: a load balancer should send new calls elsewhere
    # A store that cannot be reached serves no call here: send callers to another instance.
    store_up = await _store_answers(runtime)
    status = "draining" if draining else "ok" if store_up else "store-unavailable"
    body = {
        "status": status,
        "provider": runtime.carrier.name,
        "webhook": runtime.routes.webhook_path,
        "stream": runtime.routes.stream_path,
    }
    if not store_up:
        body["store"] = f"unreachable: {runtime.store_health.cause}"
    return Response(body, status_code=200 if status == "ok" else 503)


# ---------------------------------------------------------------------- assembly


def telephony_router(runtime: Runtime, *, control_api: bool = True) -> Router:
    """Every telephony route, under the runtime's prefix, bound to ``runtime``.

    The router does not start or stop the runtime: whoever serves it enters
    :meth:`Runtime.running` in a lifespan (the app of :func:`create_app` and the plugin do).

    Args:
        runtime: What the routes serve; its :class:`Routes` decide the paths.
        control_api: Mount ``/api/calls`` too. Leave it out when the host app places calls
            through ``runtime.engine`` itself.
    """
    routes = runtime.routes
    guard = [_control_guard]
    handlers: list[Any] = [
        route(
            routes.webhook_path,
            http_method=["GET", "POST"],
            request_max_body_size=MAX_WEBHOOK_BYTES,
            exception_handlers=TEXT_ERRORS,
            include_in_schema=False,
        )(_webhook),
        get("/health", include_in_schema=False)(_health),
    ]
    if control_api:
        handlers += [
            post(
                "/api/calls",
                guards=guard,
                status_code=201,
                request_max_body_size=MAX_CONTROL_BYTES,
                operation_class=documented(_SCHEMAS, body="PlaceCall", status=201),
            )(_place_call),
            get("/api/calls", guards=guard, operation_class=documented(_SCHEMAS, many=True))(_list_calls),
            get("/api/calls/{call_id:str}", guards=guard, operation_class=documented(_SCHEMAS))(_call_status),
            post(
                "/api/calls/{call_id:str}/speak",
                guards=guard,
                status_code=200,
                request_max_body_size=MAX_CONTROL_BYTES,
                operation_class=documented(_SCHEMAS, body="SpeakBody"),
            )(_speak),
            post(
                "/api/calls/{call_id:str}/end",
                guards=guard,
                status_code=200,
                operation_class=documented(_SCHEMAS),
            )(_end_call),
        ]
    if runtime.config.metrics.enabled:
        # Guarded like the control API: call counts and carrier names are not for everyone.
        handlers.append(
            get("/metrics", guards=guard, media_type=CONTENT_TYPE, include_in_schema=False)(_metrics)
        )
    if routes.stream_path is not None:
        bare, credentialed = routes.stream_routes()
        handlers += [websocket(credentialed)(_credentialed_stream), websocket(bare)(_stream)]
    # Even unmounted: a stream URL another instance gave out may land here, its token still good.
    hide_secrets(runtime.config.streaming.stream_path)
    if control_api and not runtime.config.control_token:
        _log.info("control API without controlToken: it answers direct requests from this machine only")
    return Router(
        path=routes.prefix or "/",
        route_handlers=handlers,
        middleware=[_serve_requests],
        exception_handlers=JSON_ERRORS,
        opt={_SERVED: _Served(runtime)},
    )


def server_limits(config: Config) -> dict[str, Any]:
    """Settings for uvicorn that enforce our limits in the server itself, before the app runs.

    The app checks frame sizes too, but only after the server has buffered a frame (up to
    16 MiB by default, text or binary): the server must refuse larger ones while reading. And
    only the server sees a request before it has arrived: one that does not arrive whole within
    ``serve.requestTimeoutMs`` is cut off (see :mod:`telephony.server._request_deadline`).
    """
    return {
        "host": config.serve.bind,
        "port": config.serve.port,
        "ws_max_size": MAX_FRAME_BYTES,
        "http": request_deadline_protocol(config.serve.request_timeout_ms),
    }


def _openapi(router: Router) -> OpenAPIConfig:
    """``/schema``: the control API's document, as JSON, behind the control API's own guard."""
    schema_router = Router(
        path="/schema",
        route_handlers=[],
        guards=[_control_guard],
        middleware=[_serve_requests],
        exception_handlers=JSON_ERRORS,
        opt={_SERVED: router.opt[_SERVED]},
        include_in_schema=False,
    )
    return openapi_config(schema_router)


def create_app(
    config: Config, *, runtime: Runtime | None = None, mount_path: str = "", control_api: bool = True
) -> Litestar:
    """Build the Litestar app for ``config``: serve it with uvicorn, or mount it in a host app.

    Its lifespan starts and stops the runtime. A host that mounts it where that lifespan does
    not run (Starlette ``Mount``, FastAPI ``app.mount``) enters :func:`telephony.serving` in its
    own lifespan instead.

    Args:
        config: The configuration.
        runtime: A runtime built from ``config`` with parts of your own (tests, embedding).
        mount_path: Where the host mounts the app, so URLs given out outside a request (the
            start-up log, calls placed from Python) include it. Requests tell their own mount
            (the ASGI ``root_path``); a path already written into ``publicUrl`` need not be
            repeated here.
        control_api: Serve ``/api/calls``; off when the host places calls itself.

    Raises:
        ConfigError: When the config cannot work (streaming without speech engines, a
            carrier without credentials, ``enabled: false``).
    """
    if runtime is None:
        runtime = Runtime.build(config, mount_path=mount_path)
    elif mount_path.rstrip("/") not in ("", runtime.routes.root_path):
        raise ValueError("mount_path differs from the runtime's; pass it to Runtime.build instead")
    built = runtime

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with built.running():
            yield

    router = telephony_router(runtime, control_api=control_api)
    # logging_config=None: an embedded app must not reconfigure its host's logging.
    app = Litestar(
        route_handlers=[router],
        lifespan=[lifespan],
        debug=False,
        logging_config=None,
        openapi_config=_openapi(router) if control_api else None,
    )
    app.state.runtime = runtime
    return app
