"""The CLI talks to a running server's control API and never starts a second one."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from telephony.cli import main
from telephony.config import config_from_mapping
from telephony.runtime import Runtime
from telephony.server import background_server, create_app, free_port


def _write_config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "voice.json"
    path.write_text(
        json.dumps(
            {
                "provider": "local",
                "fromNumber": "+15005550006",
                "serve": {"port": port},
                "store": str(tmp_path / "store"),
                "carriers": {"local": {"secret": "s", "script": ["Goodbye."]}},
            }
        )
    )
    return path


def test_client_command_without_a_server_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_config(tmp_path, free_port())
    assert main(["calls", "--config", str(config)]) == 2
    assert "no telephony server at http://127.0.0.1:" in capsys.readouterr().err


def test_bad_config_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"serve": {"port": "eighty"}}))
    assert main(["calls", "--config", str(path)]) == 2
    assert "serve.port" in capsys.readouterr().err


async def test_call_status_calls_and_end_against_a_running_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    path = _write_config(tmp_path, port)
    config = config_from_mapping(json.loads(path.read_text()), env={})
    async with background_server(create_app(config, runtime=Runtime.build(config)), port=port):
        args = [
            "call",
            "--config",
            str(path),
            "--to",
            "+14155550100",
            "--message",
            "Hello there",
            "--mode",
            "notify",
        ]
        assert await asyncio.to_thread(main, args) == 0
        placed = json.loads(capsys.readouterr().out)
        assert placed["to_number"] == "+14155550100" and placed["mode"] == "notify"
        for _ in range(100):
            assert await asyncio.to_thread(main, ["status", placed["call_id"], "--config", str(path)]) == 0
            status = json.loads(capsys.readouterr().out)
            if status["ended_at"]:
                break
            await asyncio.sleep(0.05)
        assert status["transcript"][0]["text"] == "Hello there"
        assert status["state"] in ("completed", "hangup-bot")
        assert await asyncio.to_thread(main, ["calls", "--config", str(path)]) == 0
        assert len(json.loads(capsys.readouterr().out)) == 1
        assert await asyncio.to_thread(main, ["end", placed["call_id"], "--config", str(path)]) == 0
        assert await asyncio.to_thread(main, ["speak", placed["call_id"], "hi", "--config", str(path)]) == 2
        assert "has ended" in capsys.readouterr().err


def test_serve_logs_the_urls_to_paste_into_the_carrier_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from litestar.testing import TestClient

    from telephony.server import DrainingServer

    served: list[dict[str, object]] = []

    def run(server: DrainingServer) -> None:
        with TestClient(server.config.app):  # start and stop, as uvicorn would
            served.append(
                {"host": server.config.host, "drain": server.drain_seconds, "http": server.config.http}
            )

    monkeypatch.setattr(DrainingServer, "run", run)
    path = tmp_path / "voice.json"
    path.write_text(
        json.dumps(
            {
                "provider": "twilio",
                "publicUrl": "https://voice.example.com/voice/webhook",
                "twilio": {"accountSid": "AC" + "0" * 32, "authToken": "t0ken-not-logged"},
                "streaming": {"enabled": True},
                "serve": {"bind": "0.0.0.0", "requestTimeoutMs": 2500},
                "store": str(tmp_path / "store"),
            }
        )
    )
    caplog.set_level("INFO", logger="telephony")
    assert main(["serve", "--config", str(path)]) == 0
    assert served and (served[0]["host"], served[0]["drain"]) == ("0.0.0.0", 30.0)
    assert served[0]["http"].request_timeout == 2.5  # type: ignore[attr-defined]
    text = caplog.text
    assert "webhook (a call comes in): https://voice.example.com/voice/webhook\n" in text
    assert (
        "status callback (call status changes): https://voice.example.com/voice/webhook?kind=status\n" in text
    )
    assert "wss://voice.example.com/voice/stream\n" in text
    assert "control API answers requests from this machine only" in text
    assert "t0ken-not-logged" not in text
