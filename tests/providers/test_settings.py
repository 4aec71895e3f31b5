"""Adapter settings: declared schemas and variables, and errors that name the key as written."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from telephony.providers import (
    AGENTS,
    CARRIERS,
    STT,
    TTS,
    AdapterConfigError,
    SettingsSchema,
    available,
    closest,
    declare_settings,
    declared_settings,
    parse_settings,
    settings_schema,
)


class _Vad(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    silence_ms: Annotated[int, msgspec.Meta(ge=0)] = 700


class _Acme(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    api_key: str
    region: str = "us"
    vad: _Vad = msgspec.field(default_factory=_Vad)


ACME = SettingsSchema("acme", _Acme, env={"apiKey": "ACME_API_KEY"})


def _error(settings: dict[str, object], **kwargs: str) -> AdapterConfigError:
    with pytest.raises(AdapterConfigError) as caught:
        ACME.parse(settings, **kwargs)
    return caught.value


def test_a_misspelled_key_suggests_the_nearest_one_at_any_depth() -> None:
    error = _error({"apiKey": "k", "regoin": "eu"})
    assert str(error) == "unknown key acme.regoin (did you mean acme.region?)"
    assert error.path == "acme.regoin"
    nested = _error({"apiKey": "k", "vad": {"silenceMillis": 1}}, section="carriers.acme")
    assert (
        str(nested)
        == "unknown key carriers.acme.vad.silenceMillis (did you mean carriers.acme.vad.silenceMs?)"
    )


def test_a_misspelled_required_key_gets_the_hint_not_required() -> None:
    assert str(_error({"apiKye": "k"})) == "unknown key acme.apiKye (did you mean acme.apiKey?)"


def test_a_missing_required_key_names_who_needs_it_and_its_variable() -> None:
    error = _error({}, required_by='provider "acme"')
    assert str(error) == 'acme.apiKey: required by provider "acme" (or set ACME_API_KEY)'
    assert error.path == "acme.apiKey"
    assert str(_error({})) == "acme.apiKey: required (or set ACME_API_KEY)"


@pytest.mark.parametrize("value", [None, ""])
def test_a_null_or_empty_required_key_counts_as_missing(value: object) -> None:
    assert str(_error({"apiKey": value})) == "acme.apiKey: required (or set ACME_API_KEY)"


class _Secretive(msgspec.Struct, kw_only=True, rename="camel"):
    auth_token: Annotated[str, msgspec.Meta(min_length=32)]
    region: Annotated[str, msgspec.Meta(min_length=3)] = "usa"


def test_a_bad_secret_value_is_never_echoed_but_other_values_are() -> None:
    with pytest.raises(AdapterConfigError) as caught:
        parse_settings("acme", {"authToken": "hunter2-is-short"}, _Secretive)
    assert str(caught.value) == "acme.authToken: expected str of length >= 32"
    with pytest.raises(AdapterConfigError) as caught:
        parse_settings("acme", {"authToken": "x" * 32, "region": "u"}, _Secretive)
    assert str(caught.value) == "acme.region: expected str of length >= 3, got 'u'"


def test_wrong_values_read_like_core_config_errors() -> None:
    assert (
        str(_error({"apiKey": "k", "vad": {"silenceMs": -1}}))
        == "acme.vad.silenceMs: expected int >= 0, got -1"
    )
    assert str(_error({"apiKey": 5})) == "acme.apiKey: expected str, got int"
    assert str(parse_error := _error({"apiKey": "k", "vad": "x"})) == "acme.vad: expected object, got str"
    assert parse_error.path == "acme.vad"


class _Pair(msgspec.Struct, kw_only=True, rename="camel"):
    low: int = 0
    high: int = 1

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError("low must not exceed high")


def test_a_check_across_keys_names_the_section() -> None:
    with pytest.raises(AdapterConfigError) as caught:
        parse_settings("engines.pair", {"low": 5}, _Pair)
    assert str(caught.value) == "engines.pair: low must not exceed high"
    assert caught.value.path == "engines.pair"


def test_the_environment_fills_only_unset_declared_keys() -> None:
    environ = {"ACME_API_KEY": "from-env", "REGION": "eu"}
    assert ACME.with_environment({}, environ) == {"apiKey": "from-env"}
    assert ACME.with_environment({"apiKey": ""}, environ) == {"apiKey": "from-env"}
    assert ACME.with_environment({"apiKey": None}, environ) == {"apiKey": "from-env"}
    assert ACME.with_environment({"apiKey": "file"}, environ) == {"apiKey": "file"}
    assert ACME.with_environment({}, {"ACME_API_KEY": ""}) == {}
    assert ACME.required() == ("apiKey",)
    assert ACME.missing({"apiKey": ""}) == ("apiKey",) and ACME.missing({"apiKey": "k"}) == ()


def test_a_factory_carries_its_declaration() -> None:
    @declare_settings(ACME)
    def create(settings: object) -> str:
        return "built"

    assert declared_settings(create) is ACME
    assert create({}) == "built"
    assert declared_settings(lambda settings: None) is None


def test_every_bundled_adapter_declares_its_settings_through_the_registry() -> None:
    for group in (CARRIERS, AGENTS, TTS, STT):
        for name in available(group):
            assert settings_schema(group, name) is not None, (group, name)
    twilio = settings_schema(CARRIERS, "twilio")
    assert twilio is not None
    assert twilio.env == {"accountSid": "TWILIO_ACCOUNT_SID", "authToken": "TWILIO_AUTH_TOKEN"}
    assert twilio.required() == ("accountSid", "authToken")
    openai = settings_schema(AGENTS, "openai")
    assert openai is not None and openai.env == {"apiKey": "OPENAI_API_KEY"}


def test_closest() -> None:
    assert closest("authTokn", ["accountSid", "authToken"]) == "authToken"
    assert closest("zzz", ["accountSid", "authToken"]) is None
