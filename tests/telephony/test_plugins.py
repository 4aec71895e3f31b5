"""Engine choice and settings: offline without a key, OpenAI with one, openclaw keys honoured."""

from __future__ import annotations

from typing import Any

import pytest

from telephony import plugins
from telephony.config import ConfigError, config_from_mapping
from telephony.plugins import OFFLINE, factory_settings, load_agent, load_stt, load_tts
from telephony.runtime import Runtime


def test_auto_is_offline_without_a_key() -> None:
    config = config_from_mapping({}, env={})
    assert type(load_agent(config)).__name__ == "BuiltinAgent"
    assert type(load_tts(config)).__name__ == "EspeakTTS"
    assert type(load_stt(config)).__name__ == "PocketsphinxSTT"


def test_auto_is_openai_with_a_key() -> None:
    config = config_from_mapping({}, env={"OPENAI_API_KEY": "sk-test"})
    assert type(load_agent(config)).__name__ == "OpenAIAgent"
    assert type(load_tts(config)).__name__ == "OpenAITTS"


def test_openai_settings_take_openclaw_voice_prompt_and_model() -> None:
    config = config_from_mapping(
        {
            "tts": {"providers": {"openai": {"voice": "nova"}}},
            "responseSystemPrompt": "Be terse.",
            "responseModel": "openai/gpt-4.1-mini",
            "openai": {"speed": 1.2},
        },
        env={"OPENAI_API_KEY": "sk-test"},
    )
    settings = factory_settings(config, "openai")
    assert settings["voice"] == "nova" and settings["systemPrompt"] == "Be terse."
    assert (
        settings["model"] == "gpt-4.1-mini" and settings["speed"] == 1.2 and settings["apiKey"] == "sk-test"
    )


def test_explicit_openai_model_wins_and_other_providers_models_are_ignored() -> None:
    explicit = config_from_mapping({"openai": {"model": "gpt-4o"}, "responseModel": "openai/x"}, env={})
    assert factory_settings(explicit, "openai")["model"] == "gpt-4o"
    foreign = config_from_mapping({"responseModel": "anthropic/claude"}, env={})
    assert "model" not in factory_settings(foreign, "openai")  # the adapter's default applies


def test_engine_sections_reach_offline_engines() -> None:
    config = config_from_mapping({"engines": {"espeak": {"voice": "en-us+m3", "rate": 160}}}, env={})
    assert factory_settings(config, "espeak") == {"voice": "en-us+m3", "rate": 160}
    assert load_tts(config).voice == "en-us+m3"  # type: ignore[attr-defined]


def test_settings_errors_name_the_key_where_it_was_written() -> None:
    bad_voice = config_from_mapping(
        {"streaming": {"enabled": True}, "engines": {"espeak": {"voice": "zz-none"}}}, env={}
    )
    with pytest.raises(ConfigError) as caught:
        Runtime.build(bad_voice)
    assert str(caught.value) == "engines.espeak.voice: espeak-ng has no voice or language 'zz-none'"
    assert caught.value.path == "engines.espeak.voice"
    bad_carrier = config_from_mapping({"carriers": {"local": {"secrett": "x"}}}, env={})
    with pytest.raises(ConfigError) as caught:
        Runtime.build(bad_carrier)
    assert str(caught.value) == "unknown key carriers.local.secrett (did you mean carriers.local.secret?)"
    assert caught.value.path == "carriers.local.secrett"


def test_openai_section_and_engines_openai_are_checked_where_written() -> None:
    top = config_from_mapping({"agent": "openai", "openai": {"apiKey": "k", "modle": "x"}}, env={})
    with pytest.raises(ConfigError, match=r"^unknown key openai\.modle \(did you mean openai\.model\?\)$"):
        load_agent(top)
    nested = config_from_mapping(
        {"agent": "openai", "engines": {"openai": {"apiKey": "k", "speed": 9}}}, env={}
    )
    with pytest.raises(ConfigError, match=r"^engines\.openai\.speed: expected float <= 4\.0, got 9$"):
        load_agent(nested)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"openai": {"apiKey": "k"}, "engines": {"openai": {"speed": 9}}},
            "engines.openai.speed: expected float <= 4.0, got 9",
        ),
        (
            {"openai": {"apiKey": "k", "speed": 9}, "engines": {"openai": {"voice": "nova"}}},
            "openai.speed: expected float <= 4.0, got 9",
        ),
        (
            {"openai": {"apiKey": "k", "modle": "x"}, "engines": {"openai": {"voice": "nova"}}},
            "unknown key openai.modle (did you mean openai.model?)",
        ),
        (
            {"openai": {"voice": "nova"}, "engines": {"openai": {"modle": "x"}}},
            "unknown key engines.openai.modle (did you mean engines.openai.model?)",
        ),
    ],
)
def test_with_both_layers_the_error_names_the_one_holding_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_agent(config_from_mapping({"agent": "openai", **data}, env={}))
    assert str(caught.value) == message


def test_an_explicit_openai_engine_without_a_key_names_the_key_and_the_variable() -> None:
    config = config_from_mapping({"agent": "openai"}, env={})
    with pytest.raises(ConfigError) as caught:
        load_agent(config)
    assert str(caught.value) == 'openai.apiKey: required by agent "openai" (or set OPENAI_API_KEY)'


def test_an_explicit_env_keeps_the_process_key_out_of_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-process")
    assert type(load_agent(config_from_mapping({}, env={}))).__name__ == "BuiltinAgent"


def test_auto_falls_back_offline_when_openai_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_from_mapping({}, env={"OPENAI_API_KEY": "sk-test"})
    monkeypatch.setattr(plugins, "available", lambda group: [OFFLINE[group]])
    assert type(load_agent(config)).__name__ == "BuiltinAgent"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"agent": "opnai"}, "agent: no agent engine named 'opnai' (did you mean 'openai'?); installed: "),
        ({"agent": "gpt"}, "agent: no agent engine named 'gpt'; installed: builtin, openai"),
        (
            {"streaming": {"enabled": True}, "ttsEngine": "espeek"},
            "ttsEngine: no TTS engine named 'espeek' (did you mean 'espeak'?)",
        ),
        (
            {"streaming": {"enabled": True, "provider": "deepgram"}},
            "streaming.provider: no STT engine named 'deepgram'; installed: ",
        ),
    ],
)
def test_unknown_engine_names_stop_start_up_naming_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Runtime.build(config_from_mapping(data, env={}))
    assert str(caught.value).startswith(message)
    assert caught.value.path == message.split(":")[0]
