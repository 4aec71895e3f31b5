"""``/schema``: this project's document, with the real schemas, guarded, and no web page."""

from __future__ import annotations

from typing import Any

import pytest
from twilio_helpers import twilio_app, twilio_config

from telephony.server import create_app


def _document(**config: Any) -> dict[str, Any]:
    with twilio_app(twilio_config(**config)) as client:
        response = client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def test_the_document_is_titled_and_versioned_as_this_project() -> None:
    info = _document()["info"]
    assert info["title"] == "telephony" and info["version"] == "0.1.0"


def test_request_and_answer_schemas_are_the_real_ones() -> None:
    paths = _document()["paths"]
    assert set(paths) == {
        "/api/calls",
        "/api/calls/{call_id}",
        "/api/calls/{call_id}/speak",
        "/api/calls/{call_id}/end",
    }, "webhooks, streams, /health and /metrics are not part of the control API"
    place = paths["/api/calls"]["post"]
    body = place["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["to"] and body["additionalProperties"] is False
    assert body["properties"]["to"]["pattern"].startswith("^\\+[1-9]")
    assert body["properties"]["mode"] == {"anyOf": [{"enum": ["conversation", "notify"]}, {"type": "null"}]}
    call = place["responses"]["201"]["content"]["application/json"]["schema"]
    assert {"call_id", "state", "transcript", "to_number", "metadata"} <= set(call["properties"])
    assert "pending" not in call["properties"] and "thinking" not in call["properties"]
    assert "$ref" not in str(call), "every schema stands alone"
    speak = paths["/api/calls/{call_id}/speak"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert speak["properties"]["text"]["maxLength"] == 4000
    listed = paths["/api/calls"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed["type"] == "array" and listed["items"]["title"] == "Call"
    error = place["responses"]["400"]["content"]["application/json"]["schema"]
    assert error["required"] == ["error"]


@pytest.mark.parametrize("path", ["/schema", "/schema/openapi.json"])
def test_the_document_is_json_and_no_page_loads_code(path: str) -> None:
    with twilio_app(twilio_config()) as client:
        response = client.get(path)
        pages = [
            client.get(f"/schema/{page}").status_code for page in ("swagger", "redoc", "elements", "rapidoc")
        ]
    assert response.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    assert "<script" not in response.text and "cdn" not in response.text.lower()
    assert pages == [404] * 4


def test_the_document_is_behind_the_control_api_guard() -> None:
    with twilio_app(twilio_config(controlToken="t0ken")) as client:
        assert client.get("/schema").status_code == 401
        assert client.get("/schema", headers={"Authorization": "Bearer t0ken"}).status_code == 200
        assert (
            client.get(
                "/schema", headers={"Authorization": "Bearer t0ken", "Host": "evil.example"}
            ).status_code
            == 421
        )
    with twilio_app(twilio_config(), client_host="203.0.113.7") as client:
        assert client.get("/schema").status_code == 403


def test_an_app_without_control_api_has_no_document() -> None:
    app = create_app(twilio_config(), control_api=False)
    assert app.openapi_config is None
