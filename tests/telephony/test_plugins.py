"""Engine choice and settings: offline without a key, OpenAI with one, openclaw keys honoured."""

from __future__ import annotations

from telephony.config import config_from_mapping
from telephony.plugins import _settings, load_agent, load_stt, load_tts


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
    settings = _settings(config, "openai")
    assert settings["voice"] == "nova" and settings["systemPrompt"] == "Be terse."
    assert (
        settings["model"] == "gpt-4.1-mini" and settings["speed"] == 1.2 and settings["apiKey"] == "sk-test"
    )


def test_explicit_openai_model_wins_and_other_providers_models_are_ignored() -> None:
    explicit = config_from_mapping({"openai": {"model": "gpt-4o"}, "responseModel": "openai/x"}, env={})
    assert _settings(explicit, "openai")["model"] == "gpt-4o"
    foreign = config_from_mapping({"responseModel": "anthropic/claude"}, env={})
    assert _settings(foreign, "openai")["model"] == "gpt-4o-mini"


def test_engine_sections_reach_offline_engines() -> None:
    config = config_from_mapping({"engines": {"espeak": {"voice": "en-us+m3", "rate": 160}}}, env={})
    assert _settings(config, "espeak") == {"voice": "en-us+m3", "rate": 160}
    assert load_tts(config).voice == "en-us+m3"  # type: ignore[attr-defined]


def test_settings_errors_name_the_key_where_it_was_written() -> None:
    import pytest

    from telephony.config import ConfigError
    from telephony.runtime import Runtime

    bad_voice = config_from_mapping(
        {"streaming": {"enabled": True}, "engines": {"espeak": {"voice": "zz-none"}}}, env={}
    )
    with pytest.raises(ConfigError, match=r"`engines\.espeak\.voice`"):
        Runtime.build(bad_voice)
    bad_carrier = config_from_mapping({"carriers": {"local": {"secrett": "x"}}}, env={})
    with pytest.raises(ConfigError, match=r"carriers\.local"):
        Runtime.build(bad_carrier)
