"""An openclaw voice-call config starts the server unchanged, and its keys take effect."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import respx
from openai_helpers import API, USING
from twilio_helpers import ACCOUNT_SID, AUTH_TOKEN, incoming_call, post_signed, twilio_app, twiml

from telephony.adapters.openai import OpenAISettings, OpenAITTS
from telephony.cli import main
from telephony.config import Config, ConfigError, config_from_mapping, load_config
from telephony.runtime import Runtime
from telephony.server import create_app
from telephony.store import MemoryCallStore

OPENCLAW_FILE = {
    "plugins": {
        "entries": {
            "voice-call": {
                "enabled": True,
                "config": {
                    "provider": "twilio",
                    "fromNumber": "+15550001234",
                    "publicUrl": "https://calls.example.net/",
                    "serve": {"port": 3334, "bind": "127.0.0.1", "path": "/hooks/voice"},
                    "streaming": {"enabled": False, "streamPath": "/hooks/stream"},
                    "inboundPolicy": "allowlist",
                    "allowFrom": ["+14158675309"],
                    "inboundGreeting": "Thanks for calling the front desk.",
                    "twilio": {"accountSid": "AC" + "5" * 32},
                    "tts": {"providers": {"openai": {"voice": "echo"}}},
                    "outbound": {"defaultMode": "conversation"},
                },
            }
        }
    }
}


def test_whole_openclaw_file_drives_routes_policy_greeting_and_voice(tmp_path: Path) -> None:
    path = tmp_path / "openclaw.json"
    path.write_text(json.dumps(OPENCLAW_FILE))
    config = load_config(path, env={"TWILIO_AUTH_TOKEN": AUTH_TOKEN})
    url = "https://calls.example.net/hooks/voice"
    with twilio_app(config) as client:
        root = twiml(post_signed(client, url, incoming_call()).text)
        assert client.post("/voice/webhook").status_code == 404
    gather = root.find("Gather")
    assert gather is not None and gather.attrib["action"].startswith(url + "?callId=")
    say = gather.find("Say")
    assert say is not None and say.text == "Thanks for calling the front desk."
    assert say.attrib["voice"] == "Polly.Matthew"


# ---------------------------------------------------------------- the seed's own config, whole

SEED_KEY = "sk-seed-0123456789abcdef"


def _seed_file(tmp_path: Path, **extra: Any) -> Path:
    """The seed's config shape: the voice-call plugin entry of a whole openclaw file, streaming on."""
    config = {
        "provider": "twilio",
        "fromNumber": "+15550001234",
        "publicUrl": "https://calls.example.net",
        "twilio": {"accountSid": ACCOUNT_SID, "authToken": AUTH_TOKEN},
        "streaming": {"enabled": True},
        "tts": {"provider": "openai", "openai": {"voice": "alloy"}},
        "store": str(tmp_path / "store"),
        **extra,
    }
    path = tmp_path / "openclaw.json"
    path.write_text(json.dumps({"plugins": {"entries": {"voice-call": {"enabled": True, "config": config}}}}))
    return path


@pytest.fixture
def no_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``telephony serve`` starts and stops its app instead of listening; yields what was served."""
    from litestar.testing import TestClient

    from telephony.server import DrainingServer

    runs: list[str] = []

    def run(server: DrainingServer) -> None:
        with TestClient(server.config.app):
            runs.append(server.config.host)

    monkeypatch.setattr(DrainingServer, "run", run)
    return runs


NO_KEY = (
    "tts.provider is 'openai', which needs apiKey: set tts.providers.openai.apiKey "
    "(or openai.apiKey, or OPENAI_API_KEY), or choose another tts.provider"
)


@pytest.mark.usefixtures("no_openai_key")
def test_tts_provider_openai_without_a_key_stops_serve_with_one_line(
    tmp_path: Path, served: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--config", str(_seed_file(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"config error: {NO_KEY}"
    assert "Traceback" not in err and served == []


@pytest.mark.usefixtures("no_openai_key")
def test_tts_provider_openai_without_a_key_stops_create_app(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        create_app(load_config(_seed_file(tmp_path)))
    assert (str(caught.value), caught.value.path) == (NO_KEY, "tts.providers.openai.apiKey")


def _built_tts(config: Config) -> OpenAISettings:
    """The settings of the TTS engine the runtime builds, which must be OpenAI's."""
    runtime = Runtime.build(config, store=MemoryCallStore())
    try:
        assert isinstance(runtime.tts, OpenAITTS)
        return runtime.tts._settings
    finally:
        asyncio.run(runtime.aclose())


@pytest.mark.usefixtures("no_openai_key")
def test_tts_provider_openai_with_the_environment_key_speaks_with_the_voice(tmp_path: Path) -> None:
    tts = _built_tts(load_config(_seed_file(tmp_path), env={"OPENAI_API_KEY": SEED_KEY}))
    assert (tts.voice, tts.api_key, tts.tts_model) == (
        "alloy",
        SEED_KEY,
        "gpt-4o-mini-tts",
    )


@pytest.mark.usefixtures("no_openai_key")
def test_the_seed_config_with_a_key_speaks_through_openai_with_its_voice(tmp_path: Path) -> None:
    config = load_config(_seed_file(tmp_path), env={"OPENAI_API_KEY": SEED_KEY})

    async def speak() -> list[bytes]:
        runtime = Runtime.build(config, store=MemoryCallStore())
        try:
            assert runtime.tts is not None
            return [chunk.pcm async for chunk in runtime.tts.synthesize("Your order shipped.")]
        finally:
            await runtime.aclose()

    with respx.mock(base_url=API, using=USING) as openai_api:
        route = openai_api.post("/audio/speech").respond(200, content=b"\x01\x00\x02\x00")
        assert asyncio.run(speak()) == [b"\x01\x00\x02\x00"]
    request = route.calls.last.request
    body = json.loads(request.content)
    assert (body["voice"], body["model"], body["input"]) == (
        "alloy",
        "gpt-4o-mini-tts",
        "Your order shipped.",
    )
    assert request.headers["authorization"] == f"Bearer {SEED_KEY}"


@pytest.mark.usefixtures("no_openai_key")
def test_openclaw_tts_provider_settings_configure_the_engine_and_win_over_the_shared_section(
    tmp_path: Path,
) -> None:
    tts_block = {
        "provider": "openai",
        "providers": {
            "openai": {
                "apiKey": SEED_KEY,
                "model": "tts-1",
                "voice": "nova",
                "speed": 1.5,
                "instructions": "Calm.",
            }
        },
    }
    path = _seed_file(tmp_path, tts=tts_block, openai={"voice": "echo", "model": "gpt-4o"})
    settings = _built_tts(load_config(path, env={"OPENAI_API_KEY": "sk-env-not-used"}))
    assert (settings.api_key, settings.tts_model, settings.voice) == (SEED_KEY, "tts-1", "nova")
    assert (settings.speed, settings.instructions) == (1.5, "Calm.")


@pytest.mark.usefixtures("no_openai_key")
def test_a_bad_openclaw_tts_setting_is_named_where_it_was_written(tmp_path: Path) -> None:
    tts_block = {"provider": "openai", "providers": {"openai": {"apiKey": SEED_KEY, "speed": 9}}}
    with pytest.raises(ConfigError) as caught:
        Runtime.build(load_config(_seed_file(tmp_path, tts=tts_block)), store=MemoryCallStore())
    assert caught.value.path == "tts.providers.openai.speed"
    assert str(caught.value).startswith("tts.providers.openai.speed:")


@pytest.mark.usefixtures("no_openai_key")
def test_messages_tts_selects_and_configures_the_engine(tmp_path: Path) -> None:
    path = _seed_file(tmp_path)
    whole = json.loads(path.read_text())
    del whole["plugins"]["entries"]["voice-call"]["config"]["tts"]
    whole["messages"] = {
        "tts": {"provider": "openai", "providers": {"openai": {"apiKey": SEED_KEY, "voice": "fable"}}}
    }
    path.write_text(json.dumps(whole))
    tts = _built_tts(load_config(path))
    assert (tts.voice, tts.api_key) == ("fable", SEED_KEY)


@pytest.mark.usefixtures("no_openai_key")
def test_tts_provider_naming_an_engine_not_installed_stops_start_up(tmp_path: Path) -> None:
    path = _seed_file(tmp_path, tts={"provider": "elevenlabs", "providers": {"elevenlabs": {"voiceId": "v"}}})
    with pytest.raises(ConfigError) as caught:
        Runtime.build(load_config(path), store=MemoryCallStore())
    assert str(caught.value).startswith("tts.provider: no TTS engine named 'elevenlabs'; installed: ")


@pytest.mark.usefixtures("no_openai_key")
def test_an_explicit_tts_engine_wins_over_tts_provider_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="telephony")
    path = _seed_file(tmp_path, ttsEngine="espeak", inboundPolicy="open")
    runtime = Runtime.build(load_config(path), store=MemoryCallStore())
    asyncio.run(runtime.aclose())
    assert not isinstance(runtime.tts, OpenAITTS)
    assert _warnings(caplog) == [UNUSED_PREFIX + "tts.provider"]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]


UNUSED_PREFIX = "these keys are accepted but not acted on (see docs/configuration.md): "


def test_serve_lists_the_keys_not_acted_on_once(
    tmp_path: Path, served: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = _seed_file(
        tmp_path,
        inboundPolicy="open",
        tts={
            "provider": "openai",
            "timeoutMs": 8000,
            "providers": {"openai": {"apiKey": SEED_KEY}, "edge": {}},
        },
        tunnel={"provider": "ngrok"},
        realtime={"enabled": False, "instructions": "Be brief."},
        transcriptTimeoutMs=60_000,
        stt={"provider": "openai", "model": "whisper-1"},
    )
    caplog.set_level("INFO", logger="telephony")
    assert main(["serve", "--config", str(path)]) == 0 and served
    listed = [message for message in _warnings(caplog) if message.startswith(UNUSED_PREFIX)]
    assert listed == [
        UNUSED_PREFIX + "transcriptTimeoutMs, stt, tunnel.provider, realtime.instructions, tts.timeoutMs, "
        "tts.providers.edge"
    ]
    assert SEED_KEY not in caplog.text


def test_a_config_using_every_key_it_sets_warns_of_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _seed_file(
        tmp_path,
        inboundPolicy="open",
        tts={"provider": "openai", "providers": {"openai": {"apiKey": SEED_KEY}}},
    )
    caplog.set_level("INFO", logger="telephony")
    create_app(load_config(path))
    assert _warnings(caplog) == []


def test_tts_provider_in_markup_mode_is_listed_as_not_acted_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _seed_file(tmp_path, inboundPolicy="open", streaming={"enabled": False})
    caplog.set_level("INFO", logger="telephony")
    create_app(load_config(path))
    assert _warnings(caplog) == [UNUSED_PREFIX + "tts.provider"]


INBOUND_REFUSED = (
    'inboundPolicy is "disabled" (also when it is not set): inbound calls will be refused; '
    'set inboundPolicy to "open" to answer every caller, or to "allowlist" with the numbers in allowFrom'
)


@pytest.mark.parametrize("policy", [None, "disabled"])
def test_serve_says_inbound_calls_will_be_refused(
    tmp_path: Path, served: list[str], caplog: pytest.LogCaptureFixture, policy: str | None
) -> None:
    extra = {} if policy is None else {"inboundPolicy": policy}
    path = _seed_file(
        tmp_path, tts={"provider": "openai", "providers": {"openai": {"apiKey": SEED_KEY}}}, **extra
    )
    caplog.set_level("INFO", logger="telephony")
    assert main(["serve", "--config", str(path)]) == 0 and served
    assert _warnings(caplog) == [INBOUND_REFUSED]


def test_an_allowlist_with_no_numbers_is_said_to_refuse_every_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="telephony")
    create_app(config_from_mapping({"inboundPolicy": "allowlist", "store": str(tmp_path)}, env={}))
    assert _warnings(caplog) == [
        'inboundPolicy is "allowlist" but allowFrom is empty: inbound calls will be refused; '
        "list the callers' numbers in allowFrom"
    ]
