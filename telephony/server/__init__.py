"""HTTP: the Litestar router and app, their webhook, stream and control routes, and how they are served.

:func:`telephony_router` is every route, bound to a runtime; :func:`create_app` wraps it in an
app of its own, :class:`TelephonyPlugin` and :func:`serving` put it in a host's app, and
:func:`serve` runs it under uvicorn, draining first on SIGTERM. Around the routes: the error
table, the control API's browser and token checks, the webhook claims that make carrier retries
safe, what a caller hears while the store is away, the request deadline and the OpenAPI
document. The logger keeps its name, ``telephony.server``.
"""

from __future__ import annotations

from ._app import (
    HEALTH_PROBE_SECONDS,
    MAX_CONTROL_BYTES,
    MAX_FRAME_BYTES,
    MAX_TEXT_CHARS,
    MAX_WEBHOOK_BYTES,
    PlaceCall,
    SpeakBody,
    Text,
    client_address,
    create_app,
    server_limits,
    signed_url,
    telephony_router,
)
from ._background import (
    background_server,
    free_port,
)
from ._claims import (
    StillRunning,
    WebhookClaims,
)
from ._control_guard import (
    ControlGuard,
    CrossSiteRequest,
    ForeignHost,
    NotJson,
    TokenAttempts,
    TooManyAttempts,
    client_network,
    is_proxied,
)
from ._embedding import (
    TelephonyPlugin,
    serving,
)
from ._errors import (
    JSON_ERRORS,
    STATUSES,
    TEXT_ERRORS,
    InvalidRequest,
    NotServing,
    TextTooLong,
    log_refusal,
    status_for,
)
from ._openapi import (
    ErrorBody,
    documented,
    openapi_config,
    schemas,
)
from ._request_deadline import (
    DEFAULT_REQUEST_TIMEOUT_MS,
    RequestDeadlineProtocol,
    request_deadline_protocol,
)
from ._store_outage import (
    HELD_EVENT,
    StoreOutage,
    held_event,
)
from ._uvicorn import (
    DrainingServer,
    serve,
)

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT_MS",
    "HEALTH_PROBE_SECONDS",
    "HELD_EVENT",
    "JSON_ERRORS",
    "MAX_CONTROL_BYTES",
    "MAX_FRAME_BYTES",
    "MAX_TEXT_CHARS",
    "MAX_WEBHOOK_BYTES",
    "STATUSES",
    "TEXT_ERRORS",
    "ControlGuard",
    "CrossSiteRequest",
    "DrainingServer",
    "ErrorBody",
    "ForeignHost",
    "InvalidRequest",
    "NotJson",
    "NotServing",
    "PlaceCall",
    "RequestDeadlineProtocol",
    "SpeakBody",
    "StillRunning",
    "StoreOutage",
    "TelephonyPlugin",
    "Text",
    "TextTooLong",
    "TokenAttempts",
    "TooManyAttempts",
    "WebhookClaims",
    "background_server",
    "client_address",
    "client_network",
    "create_app",
    "documented",
    "free_port",
    "held_event",
    "is_proxied",
    "log_refusal",
    "openapi_config",
    "request_deadline_protocol",
    "schemas",
    "serve",
    "server_limits",
    "serving",
    "signed_url",
    "status_for",
    "telephony_router",
]
