"""The adapter through the real app: found by its entry point, driven webhook by webhook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import respx
from litestar.testing import TestClient
from telephony import config_from_mapping, create_app
from telephony.config import ConfigError

from .acme_testing import SECRET, hook, sent, signed

TOKEN = "control-token"
BEARER = {"authorization": f"Bearer {TOKEN}"}


def _config(tmp_path: Path, acme: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    return config_from_mapping(
        {
            "provider": "acme",  # found through the entry point: the package must be installed
            "publicUrl": "https://voice.example.com",
            "inboundPolicy": "open",
            "agent": "builtin",
            "store": str(tmp_path),
            "controlToken": TOKEN,  # the control API answers the test client with it
            "acme": acme,
        },
        env=env or {},
    )


def test_a_conversation_through_the_app(tmp_path: Path, acme_api: respx.MockRouter) -> None:
    config = _config(tmp_path, {"apiKey": "k", "webhookSecret": SECRET})

    def post(body: bytes) -> None:
        request = signed(body)
        reply = client.post("/voice/webhook", content=request.body, headers=dict(request.headers))
        assert reply.status_code == 200 and reply.content == b""

    def commands() -> list[tuple[str, dict[str, Any]]]:
        """The commands sent since the last look: (name, body)."""
        bodies = [sent(call.request) for call in acme_api.calls]
        acme_api.reset()
        return bodies

    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        assert client.get("/health").json()["provider"] == "acme"
        post(hook("call.incoming", event_id="ev1"))
        (answer, answered), (gather, listen) = commands()
        assert (answer, gather) == ("answer", "gather")
        assert listen["prompt"][0]["say"]["text"] == "Hello! How can I help you today?"

        said = hook(
            "call.gather.ended", state=listen["client_state"], event_id="ev2", status="ok", speech="bye"
        )
        post(said)
        assert [name for name, _ in commands()] == ["speak"]  # the goodbye; no hang-up yet
        post(said)  # a retry: answered from the cache, nothing is sent twice
        assert commands() == []

        post(hook("call.speak.ended", state=answered["client_state"], event_id="ev3"))
        assert [name for name, _ in commands()] == ["hangup"]
        post(hook("call.bridged", event_id="ev4"))  # not for us: 200, nothing happens
        post(hook("call.hangup", state=answered["client_state"], event_id="ev5", cause="normal_clearing"))
        assert commands() == []
        (call,) = client.get("/api/calls", headers=BEARER).json()
    assert call["state"] == "hangup-bot" and call["provider"] == "acme"
    assert [turn["speaker"] for turn in call["transcript"]] == ["bot", "user", "bot"]


def test_a_badly_signed_webhook_changes_nothing(tmp_path: Path, acme_api: respx.MockRouter) -> None:
    config = _config(tmp_path, {"apiKey": "k", "webhookSecret": SECRET})
    with TestClient(create_app(config), base_url="http://127.0.0.1") as client:
        request = signed(hook("call.incoming"), secret="not-the-secret")
        reply = client.post("/voice/webhook", content=request.body, headers=dict(request.headers))
        assert reply.status_code == 403
        assert client.get("/api/calls", headers=BEARER).json() == [] and not acme_api.calls


def test_credentials_come_from_the_environment(tmp_path: Path) -> None:
    env = {"ACME_API_KEY": "k-env", "ACME_WEBHOOK_SECRET": SECRET}
    config = _config(tmp_path, {}, env)
    assert config.carrier_settings() == {"apiKey": "k-env", "webhookSecret": SECRET}


def test_a_misspelled_key_names_the_key_where_it_was_written(tmp_path: Path) -> None:
    config = _config(tmp_path, {"apiKey": "k", "webhookSecre": SECRET})
    with pytest.raises(ConfigError, match=r"acme\.webhookSecre \(did you mean acme\.webhookSecret\?\)"):
        create_app(config)


def test_a_missing_key_names_its_variable(tmp_path: Path) -> None:
    config = _config(tmp_path, {"webhookSecret": SECRET})
    with pytest.raises(
        ConfigError, match=r"acme\.apiKey: required by provider \"acme\" \(or set ACME_API_KEY\)"
    ):
        create_app(config)


def test_the_example_envelope_is_what_the_helpers_send() -> None:
    envelope = json.loads(hook("call.incoming"))
    assert set(envelope) == {"id", "type", "call", "data"}
