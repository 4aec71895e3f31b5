"""Tests for telephony.config: file formats, openclaw compatibility, env overlay, errors, redaction."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from telephony.config import Config, ConfigError, config_from_mapping, load_config
from telephony.providers import TelephonyError

#: The example from the openclaw voice-call docs, extended with every documented key.
OPENCLAW_EXAMPLE: dict[str, Any] = {
    "enabled": True,
    "provider": "twilio",
    "fromNumber": "+15550001234",
    "toNumber": "+15550005678",
    "twilio": {"accountSid": "ACxxxxxxxx", "authToken": "tw-secret"},
    "telnyx": {"apiKey": "tx-secret", "connectionId": "conn-1", "publicKey": "pubkey=="},
    "plivo": {"authId": "MAxxxx", "authToken": "pl-secret"},
    "inboundPolicy": "allowlist",
    "allowFrom": ["+15550009999"],
    "inboundGreeting": "Hi, this is the assistant.",
    "outbound": {"defaultMode": "conversation", "notifyHangupDelaySec": 5},
    "maxDurationSeconds": 600,
    "staleCallReaperSeconds": 120,
    "silenceTimeoutMs": 900,
    "transcriptTimeoutMs": 120000,
    "ringTimeoutMs": 20000,
    "maxConcurrentCalls": 2,
    "serve": {"port": 3335, "bind": "0.0.0.0", "path": "/voice/hook"},
    "tailscale": {"mode": "funnel", "path": "/voice/hook"},
    "tunnel": {
        "provider": "ngrok",
        "ngrokAuthToken": "ngrok-secret",
        "ngrokDomain": "example.ngrok.app",
        "allowNgrokFreeTierLoopbackBypass": True,
    },
    "webhookSecurity": {
        "allowedHosts": ["example.ngrok.app"],
        "trustForwardingHeaders": True,
        "trustedProxyIPs": ["10.0.0.1"],
    },
    "streaming": {
        "enabled": True,
        "provider": "openai",
        "streamPath": "/voice/stream",
        "providers": {"openai": {"apiKey": "st-secret", "model": "gpt-4o-transcribe", "vadThreshold": 0.5}},
        "preStartTimeoutMs": 4000,
        "maxPendingConnections": 16,
        "maxPendingConnectionsPerIp": 2,
        "maxConnections": 64,
    },
    "realtime": {
        "enabled": False,
        "provider": "openai",
        "instructions": "Be brief.",
        "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}],
        "providers": {"openai": {"apiKey": "rt-secret", "model": "gpt-realtime", "voice": "alloy"}},
    },
    "publicUrl": "https://voice.example.com/",
    "skipSignatureVerification": False,
    "tts": {
        "provider": "openai",
        "providers": {
            "openai": {
                "apiKey": "tts-secret",
                "baseUrl": "https://api.openai.com/v1",
                "model": "gpt-4o-mini-tts",
                "voice": "coral",
                "speed": 1.1,
                "instructions": "Warm.",
            },
            "elevenlabs": {"apiKey": "el-secret", "voiceId": "v1", "voiceSettings": {"stability": 0.5}},
        },
        "timeoutMs": 8000,
        "maxTextLength": 4000,
        "auto": "always",
        "mode": "final",
        "enabled": True,
        "summaryModel": "gpt-4o-mini",
        "modelOverrides": {"enabled": True},
        "prefsPath": "~/.openclaw/tts.json",
    },
    "store": "~/.openclaw/voice-calls",
    "agentId": "main",
    "sessionScope": "per-call",
    "numbers": {"+15550001234": {"agentId": "sales", "inboundGreeting": "Sales here."}},
    "responseModel": "openai/gpt-4o-mini",
    "responseSystemPrompt": "You are on the phone.",
    "responseTimeoutMs": 20000,
}


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_mapping(data, env={})
    return str(info.value)


# ---------------------------------------------------------------- defaults


def test_the_request_deadline_must_be_positive() -> None:
    assert config_from_mapping({"serve": {"requestTimeoutMs": 2500}}, env={}).serve.request_timeout_ms == 2500
    assert _error({"serve": {"requestTimeoutMs": 0}}) == "serve.requestTimeoutMs: expected int >= 1, got 0"


def test_defaults_match_openclaw_and_our_additions() -> None:
    config = load_config(env={})
    assert config.enabled is True
    assert config.provider == "local"
    assert config.from_number is None and config.to_number is None and config.public_url is None
    assert (config.serve.port, config.serve.bind, config.serve.path) == (3334, "127.0.0.1", "/voice/webhook")
    assert config.serve.request_timeout_ms == 10_000
    assert config.streaming.enabled is False
    assert config.streaming.stream_path == "/voice/stream"
    assert config.streaming.provider is None and config.streaming.providers == {}
    assert config.streaming.pre_start_timeout_ms == 5000
    assert config.streaming.max_pending_connections == 32
    assert config.streaming.max_pending_connections_per_ip == 4
    assert config.streaming.max_connections == 128
    assert config.outbound.default_mode == "notify"
    assert config.outbound.notify_hangup_delay_sec == 3
    assert config.inbound_policy == "disabled" and config.allow_from == () and config.inbound_greeting is None
    assert config.max_duration_seconds == 300
    assert config.max_concurrent_calls == 1
    assert config.stale_call_reaper_seconds == 0
    assert config.silence_timeout_ms == 800
    assert config.transcript_timeout_ms == 180_000
    assert config.ring_timeout_ms == 30_000
    assert config.response_timeout_ms == 30_000
    assert config.skip_signature_verification is False
    assert config.tunnel.provider == "none" and config.tailscale.mode == "off"
    assert config.webhook_security.trusted_proxy_ips == ()
    assert config.sections == {} and config.carriers == {} and config.engines == {}
    assert config.carrier_settings() == {}
    assert config.tts.provider is None and config.tts.providers == {} and config.voice is None
    assert config.store == "~/.telephony"
    assert config.store_dir == Path("~/.telephony").expanduser()
    assert (config.agent, config.stt, config.tts_engine) == ("auto", "auto", "auto")
    assert config.control_token is None
    assert (config.no_input_retries, config.gather_timeout_seconds, config.language) == (2, 5, "en-US")
    assert config.realtime_stream_path == "/voice/stream/realtime"


def test_config_is_frozen_and_replace_derives_a_copy() -> None:
    config = load_config(env={})
    with pytest.raises(AttributeError):
        config.provider = "twilio"  # type: ignore[misc]
    changed = config.replace(provider="twilio", max_concurrent_calls=3)
    assert (changed.provider, changed.max_concurrent_calls) == ("twilio", 3)
    assert config.provider == "local"


# ---------------------------------------------------------------- file formats


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "telephony.json"
    path.write_text(json.dumps({"provider": "twilio", "serve": {"port": 8080}, "fromNumber": "+15550001234"}))
    config = load_config(path, env={})
    assert config.provider == "twilio"
    assert config.serve.port == 8080
    assert config.serve.path == "/voice/webhook"
    assert config.from_number == "+15550001234"


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "telephony.toml"
    path.write_text(
        'provider = "telnyx"\nmaxConcurrentCalls = 4\nttsEngine = "espeak"\n\n'
        '[serve]\nport = 9000\nbind = "0.0.0.0"\n\n[telnyx]\nconnectionId = "c-1"\n'
    )
    config = load_config(str(path), env={})
    assert config.provider == "telnyx"
    assert config.max_concurrent_calls == 4
    assert config.tts_engine == "espeak"
    assert (config.serve.port, config.serve.bind) == (9000, "0.0.0.0")
    assert config.sections["telnyx"] == {"connectionId": "c-1"}
    assert config.carrier_settings() == {"connectionId": "c-1"}


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_yaml_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"telephony{suffix}"
    path.write_text(
        "provider: plivo\n"
        "inboundPolicy: open\n"
        "outbound:\n  defaultMode: conversation\n"
        "twilio:\n  from: '+15550001234'\n  baseUrl: https://api.dublin.ie1.twilio.com\n"
        "openai:\n  baseUrl: http://localhost:8000/v1\n  model: local-model\n"
    )
    config = load_config(path, env={})
    assert config.provider == "plivo"
    assert config.inbound_policy == "open"
    assert config.outbound.default_mode == "conversation"
    assert config.carrier_settings("twilio") == {
        "from": "+15550001234",
        "baseUrl": "https://api.dublin.ie1.twilio.com",
    }
    assert config.engine_settings("openai") == {"baseUrl": "http://localhost:8000/v1", "model": "local-model"}


def test_empty_yaml_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path, env={}).provider == "local"


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not found: .*nope\.toml"):
        load_config(tmp_path / "nope.toml", env={})


@pytest.mark.parametrize(
    ("name", "text"),
    [("bad.json", '{"provider": '), ("bad.toml", "provider = "), ("bad.yaml", "serve: [1, 2\n")],
)
def test_unparsable_file_names_the_file(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"cannot parse config file .*{re.escape(name)}"):
        load_config(path, env={})


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "telephony.ini"
    path.write_text("[x]\n")
    with pytest.raises(ConfigError, match=r"telephony\.ini: unsupported config file type '\.ini'"):
        load_config(path, env={})


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must be an object"):
        load_config(path, env={})


# ---------------------------------------------------------------- openclaw compatibility


def test_openclaw_example_keys_are_accepted_unchanged() -> None:
    config = config_from_mapping(OPENCLAW_EXAMPLE, env={})
    assert config.provider == "twilio"
    assert (config.from_number, config.to_number) == ("+15550001234", "+15550005678")
    assert config.carrier_settings() == {"accountSid": "ACxxxxxxxx", "authToken": "tw-secret"}
    assert config.carrier_settings("telnyx") == OPENCLAW_EXAMPLE["telnyx"]
    assert config.carrier_settings("plivo") == {"authId": "MAxxxx", "authToken": "pl-secret"}
    assert config.inbound_policy == "allowlist" and config.allow_from == ("+15550009999",)
    assert config.inbound_greeting == "Hi, this is the assistant."
    assert config.outbound.default_mode == "conversation" and config.outbound.notify_hangup_delay_sec == 5
    assert (config.max_duration_seconds, config.stale_call_reaper_seconds) == (600, 120)
    assert (config.silence_timeout_ms, config.transcript_timeout_ms, config.ring_timeout_ms) == (
        900,
        120000,
        20000,
    )
    assert config.max_concurrent_calls == 2
    assert (config.serve.port, config.serve.bind, config.serve.path) == (3335, "0.0.0.0", "/voice/hook")
    assert config.tailscale.mode == "funnel"
    assert config.tunnel.provider == "ngrok" and config.tunnel.ngrok_domain == "example.ngrok.app"
    assert config.tunnel.allow_ngrok_free_tier_loopback_bypass is True
    assert config.webhook_security.trusted_proxy_ips == ("10.0.0.1",)
    assert config.webhook_security.allowed_hosts == ("example.ngrok.app",)
    assert config.streaming.enabled is True and config.streaming.provider == "openai"
    assert config.streaming.providers["openai"]["vadThreshold"] == 0.5
    assert config.streaming.max_pending_connections_per_ip == 2 and config.streaming.max_connections == 64
    assert config.realtime.tools[0]["name"] == "lookup"
    assert config.realtime.providers["openai"]["model"] == "gpt-realtime"
    assert config.public_url == "https://voice.example.com"  # trailing slash stripped
    assert config.tts.provider == "openai" and config.tts.timeout_ms == 8000
    assert config.tts.providers["elevenlabs"]["voiceSettings"] == {"stability": 0.5}
    assert config.tts.model_overrides == {"enabled": True} and config.tts.auto == "always"
    assert config.voice == "coral"
    assert config.store_dir == Path("~/.openclaw/voice-calls").expanduser()
    assert config.agent_id == "main" and config.session_scope == "per-call"
    assert config.numbers["+15550001234"].agent_id == "sales"
    assert config.response_model == "openai/gpt-4o-mini" and config.response_timeout_ms == 20000
    assert config.realtime_stream_path == "/voice/hook/stream/realtime"


def test_mock_and_log_providers_mean_local() -> None:
    assert config_from_mapping({"provider": "mock"}, env={}).provider == "local"
    assert config_from_mapping({"provider": "log"}, env={}).provider == "local"
    assert config_from_mapping({"provider": "acme-sip"}, env={}).provider == "acme-sip"


def test_legacy_january_keys_are_accepted() -> None:
    config = config_from_mapping(
        {
            "provider": "log",
            "twilio": {"from": "+15550001234"},
            "tunnel": {"allowNgrokFreeTier": True},
            "streaming": {
                "sttProvider": "openai-realtime",
                "openaiApiKey": "sk-legacy",
                "sttModel": "gpt-4o-transcribe",
                "silenceDurationMs": 700,
                "vadThreshold": 0.6,
            },
            "stt": {"provider": "openai", "model": "whisper-1"},
            "tts": {"openai": {"voice": "nova"}, "elevenlabs": {"voiceId": "abc"}},
        },
        env={},
    )
    assert config.provider == "local"
    assert config.sections["twilio"] == {"from": "+15550001234"}
    assert config.tunnel.allow_ngrok_free_tier is True
    assert config.streaming.stt_provider == "openai-realtime"
    assert config.streaming.silence_duration_ms == 700 and config.streaming.vad_threshold == 0.6
    assert config.stt == "auto"
    assert config.stt_legacy == {"provider": "openai", "model": "whisper-1"}
    assert config.voice == "nova"  # legacy flat tts.openai.voice
    assert config.tts.elevenlabs == {"voiceId": "abc"}


def test_whole_openclaw_file(tmp_path: Path) -> None:
    whole = {
        "messages": {"tts": {"provider": "elevenlabs", "timeoutMs": 9000, "someCoreOnlyKey": 1}},
        "plugins": {
            "entries": {
                "voice-call": {"enabled": True, "config": OPENCLAW_EXAMPLE},
                "other-plugin": {"enabled": True, "config": {"unrelated": 1}},
            }
        },
        "agents": {"defaults": {"model": "x"}},
    }
    path = tmp_path / "openclaw.json"
    path.write_text(json.dumps(whole))
    config = load_config(path, env={})
    assert config.provider == "twilio"
    assert config.serve.port == 3335
    assert config.tts.provider == "openai"  # the plugin's tts wins over messages.tts
    assert config.tts.timeout_ms == 8000


def test_whole_openclaw_file_merges_core_tts_and_entry_enabled() -> None:
    whole = {
        "messages": {
            "tts": {"provider": "openai", "providers": {"openai": {"voice": "alloy", "model": "m"}}}
        },
        "plugins": {
            "entries": {
                "voice-call": {
                    "enabled": False,
                    "config": {"provider": "mock", "tts": {"providers": {"openai": {"voice": "echo"}}}},
                }
            }
        },
    }
    config = config_from_mapping(whole, env={})
    assert config.enabled is False
    assert config.provider == "local"
    assert config.tts.provider == "openai"
    assert config.tts.providers["openai"] == {"voice": "echo", "model": "m"}
    assert config.voice == "echo"


def test_whole_openclaw_file_without_config_block_gives_defaults() -> None:
    config = config_from_mapping({"plugins": {"entries": {"voice-call": {"enabled": True}}}}, env={})
    assert config.provider == "local" and config.enabled is True


def test_whole_openclaw_file_without_voice_call_entry() -> None:
    message = _error({"plugins": {"entries": {"other": {}}}})
    assert message == "plugins.entries.voice-call: expected an object holding the voice-call plugin entry"


def test_openclaw_json5_file_with_comments_and_trailing_commas(tmp_path: Path) -> None:
    path = tmp_path / "openclaw.json"
    path.write_text(
        "{\n"
        "  // openclaw files are JSON5\n"
        "  plugins: {\n"
        "    entries: {\n"
        '      "voice-call": {\n'
        "        enabled: true,\n"
        "        config: {\n"
        '          provider: "twilio", /* inline */\n'
        '          fromNumber: "+15550001234",\n'
        '          publicUrl: "https://voice.example.com/hook//x",\n'
        "\t\t  serve: { port: 4000, },\n"
        "        },\n"
        "      },\n"
        "    },\n"
        "  },\n"
        "}\n"
    )
    config = load_config(path, env={})
    assert config.provider == "twilio"
    assert config.serve.port == 4000
    assert config.public_url == "https://voice.example.com/hook//x"


def test_error_in_whole_openclaw_file_names_the_full_path() -> None:
    message = _error({"plugins": {"entries": {"voice-call": {"config": {"serve": {"port": "x"}}}}}})
    assert message == "plugins.entries.voice-call.config.serve.port: expected int, got str"


# ---------------------------------------------------------------- environment overlay


def test_env_fills_core_keys_and_the_secrets_the_selected_adapters_declare() -> None:
    env = {
        "TWILIO_ACCOUNT_SID": "AC-env",
        "TWILIO_AUTH_TOKEN": "tw-env",
        "TELNYX_API_KEY": "tx-env",
        "PLIVO_AUTH_ID": "MA-env",
        "OPENAI_API_KEY": "sk-env",
        "TELEPHONY_CONTROL_TOKEN": "ctl-env",
        "TELEPHONY_PUBLIC_URL": "https://env.example.com/",
        "NGROK_AUTHTOKEN": "ng-env",
    }
    config = load_config(env=env, overrides={"provider": "twilio"})
    assert config.carrier_settings() == {"accountSid": "AC-env", "authToken": "tw-env"}
    assert config.engine_settings("openai") == {"apiKey": "sk-env"}  # `auto` engines: OpenAI's key
    assert set(config.sections) == {"twilio", "openai"}  # no adapter in use declares the others
    assert config.control_token == "ctl-env"
    assert config.public_url == "https://env.example.com"
    assert config.tunnel.ngrok_auth_token == "ng-env"


def test_env_reaches_only_adapters_in_use() -> None:
    env = {"TWILIO_AUTH_TOKEN": "tw-env", "OPENAI_API_KEY": "sk-env"}
    config = config_from_mapping({"provider": "local", "agent": "builtin", "ttsEngine": "espeak"}, env=env)
    assert "twilio" not in config.sections
    assert config.engine_settings("openai") == {"apiKey": "sk-env"}  # stt is still auto


def test_env_fills_the_layer_the_user_wrote() -> None:
    config = config_from_mapping(
        {"provider": "twilio", "carriers": {"twilio": {"authToken": ""}}},
        env={"TWILIO_ACCOUNT_SID": "AC-env", "TWILIO_AUTH_TOKEN": "tw-env"},
    )
    assert config.carriers["twilio"] == {"authToken": "tw-env"}
    assert config.sections["twilio"] == {"accountSid": "AC-env"}
    assert config.carrier_settings() == {"accountSid": "AC-env", "authToken": "tw-env"}


def test_file_values_win_over_env(tmp_path: Path) -> None:
    path = tmp_path / "telephony.yaml"
    path.write_text(
        "provider: twilio\npublicUrl: https://file.example.com\n"
        "twilio:\n  authToken: from-file\n  accountSid: ''\n"
        "openai:\n  apiKey: null\n"
    )
    env = {
        "TWILIO_AUTH_TOKEN": "from-env",
        "TWILIO_ACCOUNT_SID": "AC-env",
        "TELEPHONY_PUBLIC_URL": "https://env.example.com",
        "OPENAI_API_KEY": "sk-env",
    }
    config = load_config(path, env=env)
    assert config.carrier_settings()["authToken"] == "from-file"
    assert config.public_url == "https://file.example.com"
    assert config.carrier_settings()["accountSid"] == "AC-env"  # empty in the file: filled
    assert config.sections["openai"]["apiKey"] == "sk-env"  # null in the file: filled


def test_an_explicit_env_keeps_the_process_environment_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-process")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "tw-from-process")
    config = config_from_mapping({"provider": "twilio"}, env={})
    assert config.sections == {}


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEPHONY_CONTROL_TOKEN", "from-os")
    assert load_config().control_token == "from-os"


def test_env_value_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"^publicUrl: expected an http\(s\) URL, got 'not-a-url'$"):
        load_config(env={"TELEPHONY_PUBLIC_URL": "not-a-url"})


def test_overrides_merge_deep_and_accept_attribute_names(tmp_path: Path) -> None:
    path = tmp_path / "telephony.toml"
    path.write_text('provider = "twilio"\n[serve]\nport = 8000\nbind = "0.0.0.0"\n')
    config = load_config(
        path,
        env={},
        overrides={"serve": {"port": 9000}, "public_url": "https://o.example.com", "from_number": None},
    )
    assert config.provider == "twilio"
    assert (config.serve.port, config.serve.bind) == (9000, "0.0.0.0")
    assert config.public_url == "https://o.example.com"
    assert config.from_number is None


# ---------------------------------------------------------------- errors


def test_config_error_is_a_telephony_error() -> None:
    assert issubclass(ConfigError, TelephonyError)


def test_bad_value_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "telephony.json"
    path.write_text(json.dumps({"serve": {"port": "80"}}))
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == "serve.port: expected int, got str"
    assert info.value.path == "serve.port"
    assert info.value.source == str(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"serve": {"port": 0}}, "serve.port: expected int >= 1, got 0"),
        ({"serve": {"port": 70000}}, "serve.port: expected int <= 65535, got 70000"),
        ({"serve": {"path": "voice"}}, "serve.path: expected a path starting with '/', got 'voice'"),
        ({"publicUrl": "ftp://x"}, "publicUrl: expected an http(s) URL, got 'ftp://x'"),
        ({"maxConcurrentCalls": 0}, "maxConcurrentCalls: expected int >= 1, got 0"),
        ({"enabled": "yes"}, "enabled: expected bool, got str"),
        (
            {"inboundPolicy": "closed"},
            "inboundPolicy: invalid value 'closed' (expected one of: disabled, allowlist, pairing, open)",
        ),
        (
            {"outbound": {"defaultMode": "x"}},
            "outbound.defaultMode: invalid value 'x' (expected one of: notify, conversation)",
        ),
        (
            {"streaming": {"providers": {"openai": "k"}}},
            "streaming.providers.openai: expected object, got str",
        ),
        ({"realtime": {"tools": [{}, 5]}}, "realtime.tools[1]: expected object, got int"),
        (
            {"numbers": {"+15550001234": {"agentId": 5}}},
            "numbers.+15550001234.agentId: expected str | null, got int",
        ),
        ({"serve": "x"}, "serve: expected object, got str"),
        (
            {"streaming": {"enabled": True}, "realtime": {"enabled": True}},
            "streaming.enabled and realtime.enabled cannot both be true",
        ),
    ],
)
def test_bad_values(data: dict[str, Any], message: str) -> None:
    assert _error(data) == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"serve": {"prot": 1}}, "unknown key serve.prot (did you mean serve.port?)"),
        ({"fooBar": 1}, "unknown key fooBar"),
        ({"from_number": "+15550001234"}, "unknown key from_number (did you mean fromNumber?)"),
        ({"tts": {"providrs": {}}}, "unknown key tts.providrs (did you mean tts.providers?)"),
        (
            {"webhookSecurity": {"trustedProxyIps": []}},
            "unknown key webhookSecurity.trustedProxyIps (did you mean webhookSecurity.trustedProxyIPs?)",
        ),
        (
            {"numbers": {"+15550001234": {"greeting": "x"}}},
            "unknown key numbers.+15550001234.greeting (did you mean numbers.+15550001234.inboundGreeting?)",
        ),
    ],
)
def test_unknown_keys(data: dict[str, Any], message: str) -> None:
    assert _error(data) == message


def test_non_string_key_in_yaml(tmp_path: Path) -> None:
    path = tmp_path / "telephony.yaml"
    path.write_text("serve:\n  1: 2\n")
    with pytest.raises(ConfigError, match=r"^serve: invalid key 1: expected str$"):
        load_config(path, env={})


@pytest.mark.parametrize("number", ["+15550001234", "+442071838750", "+12"])
def test_e164_accepted(number: str) -> None:
    config = config_from_mapping({"fromNumber": number, "toNumber": number, "allowFrom": [number]}, env={})
    assert config.from_number == number and config.to_number == number and config.allow_from == (number,)


@pytest.mark.parametrize(
    "number", ["15550001234", "+05550001234", "+1 555 000 1234", "+1234567890123456", "+1"]
)
def test_e164_rejected(number: str) -> None:
    assert _error({"fromNumber": number}) == (
        f"fromNumber: expected an E.164 phone number such as +15551234567, got {number!r}"
    )


def test_e164_rejected_in_lists_and_number_keys() -> None:
    assert _error({"allowFrom": ["+15550001234", "555"]}) == (
        "allowFrom[1]: expected an E.164 phone number such as +15551234567, got '555'"
    )
    assert _error({"toNumber": "abc"}).startswith("toNumber: expected an E.164 phone number")
    assert _error({"numbers": {"sales": {}}}) == (
        "numbers: invalid key 'sales': expected an E.164 phone number such as +15551234567"
    )


# ---------------------------------------------------------------- redaction and helpers


def test_redacted_hides_every_secret() -> None:
    config = config_from_mapping(
        {**OPENCLAW_EXAMPLE, "controlToken": "ctl-secret", "openai": {"apiKey": "oa-secret"}},
        env={},
    )
    redacted = config.redacted()
    dumped = json.dumps(redacted)
    for secret in (
        "tw-secret",
        "tx-secret",
        "pl-secret",
        "ngrok-secret",
        "st-secret",
        "rt-secret",
        "tts-secret",
        "el-secret",
        "ctl-secret",
        "oa-secret",
    ):
        assert secret not in dumped
    assert redacted["twilio"] == {"accountSid": "ACxxxxxxxx", "authToken": "***"}
    assert "sections" not in redacted
    assert redacted["telnyx"]["publicKey"] == "pubkey=="
    assert redacted["tunnel"]["ngrokAuthToken"] == "***"
    assert redacted["controlToken"] == "***"
    assert redacted["openai"]["apiKey"] == "***"
    assert redacted["tts"]["providers"]["openai"]["apiKey"] == "***"
    assert redacted["tts"]["providers"]["openai"]["voice"] == "coral"
    assert redacted["serve"] == {
        "port": 3335,
        "bind": "0.0.0.0",
        "path": "/voice/hook",
        "requestTimeoutMs": 10000,
        "drainTimeoutMs": 30000,
        "allowedHosts": [],
    }
    assert redacted["webhookSecurity"]["trustedProxyIPs"] == ["10.0.0.1"]
    # Unset secrets stay visibly unset; the real config still has the values.
    assert config_from_mapping({}, env={}).redacted()["controlToken"] is None
    assert config.carrier_settings()["authToken"] == "tw-secret"


def test_carrier_settings_take_the_top_level_section_with_carriers_over_it() -> None:
    config = config_from_mapping(
        {
            "provider": "acme",
            "twilio": {"authToken": "t", "accountSid": "AC1"},
            "carriers": {"acme": {"apiKey": "k"}, "twilio": {"accountSid": "AC2"}},
        },
        env={},
    )
    assert config.carrier_settings() == {"apiKey": "k"}
    assert config.carrier_settings("twilio") == {"authToken": "t", "accountSid": "AC2"}
    assert config.carrier_settings("local") == {}


@pytest.mark.parametrize("name", ["telnyx", "plivo", "acme-sip"])
def test_sections_of_carriers_without_an_adapter_are_accepted_raw(name: str) -> None:
    config = config_from_mapping({"provider": name, name: {"apiKey": "k", "anything": [1]}}, env={})
    assert config.carrier_settings() == {"apiKey": "k", "anything": [1]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"serv": {"port": 1}}, "unknown key serv (did you mean serve?)"),
        ({"tunel": {}}, "unknown key tunel (did you mean tunnel?)"),
        ({"engine": {"espeak": {}}}, "unknown key engine (did you mean engines?)"),
        ({"sections": {"twilio": {}}}, "unknown key sections"),
        ({"sections": 5}, "unknown key sections"),
        (
            {"plugins": {"entries": {"voice-call": {"config": {"streming": {}}}}}},
            "unknown key plugins.entries.voice-call.config.streming "
            "(did you mean plugins.entries.voice-call.config.streaming?)",
        ),
    ],
)
def test_a_top_level_object_like_a_core_key_is_a_typo_not_an_adapter_section(
    data: dict[str, Any], message: str
) -> None:
    assert _error(data) == message


def test_realtime_stream_path_derivation() -> None:
    assert config_from_mapping({"serve": {"path": "/calls"}}, env={}).realtime_stream_path == (
        "/calls/stream/realtime"
    )
    explicit = config_from_mapping({"realtime": {"streamPath": "/rt"}}, env={})
    assert explicit.realtime_stream_path == "/rt"


def test_config_from_mapping_does_not_mutate_input() -> None:
    data: dict[str, Any] = {"provider": "twilio", "stt": {"provider": "openai"}, "twilio": {}}
    config_from_mapping(data, env={"TWILIO_AUTH_TOKEN": "t"}, overrides={"serve": {"port": 1}})
    assert data == {"provider": "twilio", "stt": {"provider": "openai"}, "twilio": {}}


def test_config_type_is_exported() -> None:
    assert isinstance(config_from_mapping({}, env={}), Config)


def test_each_config_file_gets_its_own_default_store(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "voice.json", tmp_path / "b" / "voice.json"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text("{}")
    stores = [load_config(path, env={}).store for path in (first, second)]
    assert stores[0] != stores[1]
    assert all(re.fullmatch(r"~/\.telephony/voice-[0-9a-f]{8}", store) for store in stores)
    assert load_config(first, env={}).store == stores[0]  # the same file keeps its store
    assert load_config(tmp_path / "a" / ".." / "a" / "voice.json", env={}).store == stores[0]


def test_a_store_written_in_the_file_or_given_as_override_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "voice.json"
    path.write_text(json.dumps({"store": str(tmp_path / "calls")}))
    assert load_config(path, env={}).store == str(tmp_path / "calls")
    path.write_text("{}")
    assert load_config(path, env={}, overrides={"store": "/srv/calls"}).store == "/srv/calls"


def test_a_config_without_a_file_keeps_the_home_store() -> None:
    assert load_config(None, env={}).store == "~/.telephony"
