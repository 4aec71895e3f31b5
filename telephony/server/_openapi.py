"""The control API's OpenAPI document: this project's name and version, real schemas, no web page.

Litestar would publish ``/schema`` as "Litestar API" with empty schemas (the control handlers
read their bodies themselves, so their error messages can say what is wrong) and an HTML page
that loads its code from a CDN. Here the document is JSON only, served under the control API's
own guard, and its request and response schemas come from the very msgspec types the handlers
decode and the store keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

import msgspec
from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, RequestBody

__all__ = ["ErrorBody", "documented", "openapi_config", "schemas"]

_REF: Final = "#/components/schemas/{name}"
_JSON: Final = "application/json"


def _version() -> str:
    try:
        return version("telephony")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


class ErrorBody(msgspec.Struct):
    """What every refusal other than 401 and 403 carries: the reason, for a person to read."""

    error: str


def _inline(schema: Any, components: dict[str, Any]) -> Any:
    """``schema`` with every reference to a component replaced by the component itself.

    Litestar builds the document's components from the handlers' own signatures, so a schema
    given to it must stand alone.
    """
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        rest = {key: _inline(value, components) for key, value in schema.items() if key != "$ref"}
        if isinstance(ref, str):
            return _inline(components[ref.rsplit("/", 1)[-1]], components) | rest
        return rest
    if isinstance(schema, list):
        return [_inline(value, components) for value in schema]
    return schema


def schemas(
    bodies: Sequence[type[msgspec.Struct]], record: type[msgspec.Struct], hidden: Iterable[str]
) -> dict[str, Any]:
    """Standalone JSON schemas by name: the request ``bodies``, ``Call`` and ``ErrorBody``.

    ``Call`` is ``record`` as the API shows it: without the fields it leaves out (``hidden``),
    with the older ``metadata`` counters.
    """
    _, components = msgspec.json.schema_components([*bodies, record, ErrorBody], ref_template=_REF)
    call = dict(components[record.__name__])
    hidden = set(hidden)
    call["title"] = "Call"
    call["description"] = "A call as the control API shows it: its state, transcript and counters."
    properties = {name: value for name, value in call.get("properties", {}).items() if name not in hidden}
    properties["metadata"] = {"type": "object", "description": "Counters under their older names."}
    call["properties"] = properties
    call["required"] = [name for name in call.get("required", []) if name not in hidden]
    named = {body.__name__: components[body.__name__] for body in bodies}
    named |= {"Call": call, "ErrorBody": components["ErrorBody"]}
    return {name: _inline(schema, components) for name, schema in named.items()}


def _media(schema: dict[str, Any]) -> dict[str, OpenAPIMediaType]:
    return {_JSON: OpenAPIMediaType(schema=schema)}  # type: ignore[arg-type]  # a plain JSON schema


def documented(
    schemas: dict[str, Any],
    *,
    body: str | None = None,
    answer: str = "Call",
    status: int = 200,
    many: bool = False,
) -> type[Operation]:
    """An ``operation_class`` for a control route: its JSON body and its answer, from :func:`schemas`.

    Args:
        schemas: From :func:`schemas`.
        body: The name of the struct the handler decodes its body into, if it takes one.
        answer: The name of the schema the success answer holds.
        status: The success status.
        many: The answer is a list of ``answer``.
    """
    answer_schema = {"type": "array", "items": schemas[answer]} if many else schemas[answer]

    @dataclass
    class _Documented(Operation):
        def __post_init__(self) -> None:
            if body is not None:
                self.request_body = RequestBody(content=_media(schemas[body]), required=True)
            responses = dict(self.responses or {})
            responses[str(status)] = OpenAPIResponse(
                description="the calls, newest first" if many else "the call", content=_media(answer_schema)
            )
            responses["400"] = OpenAPIResponse(
                description="a malformed request or one the server refuses; nothing was changed",
                content=_media(schemas["ErrorBody"]),
            )
            self.responses = responses

    return _Documented


def openapi_config(router: Router) -> OpenAPIConfig:
    """The app's OpenAPI settings: ``/schema`` (and ``/schema/openapi.json``) as JSON, on ``router``.

    Args:
        router: An empty router at ``/schema`` carrying the control API's guard.
    """
    return OpenAPIConfig(
        title="telephony",
        version=_version(),
        description=(
            "The control API of a telephony server: place calls, watch them, speak on them, end "
            "them. Carrier webhooks and media streams are not part of it."
        ),
        render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
        openapi_router=router,
    )
