"""Mistakes surface at start: one line naming the key, from `telephony serve` and from create_app."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from twilio_helpers import ACCOUNT_SID, AUTH_TOKEN

from telephony.cli import main
from telephony.config import ConfigError, config_from_mapping
from telephony.runtime import Runtime
from telephony.server import create_app
from telephony.store import MemoryCallStore

_VARIABLES = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "OPENAI_API_KEY", "TELEPHONY_CONTROL_TOKEN")


@pytest.fixture(autouse=True)
def _no_secrets_from_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _twilio(tmp_path: Path, **twilio: str) -> dict[str, Any]:
    return {
        "provider": "twilio",
        "publicUrl": "https://voice.example.com",
        "store": str(tmp_path / "store"),
        "twilio": twilio,
    }


def _serve(tmp_path: Path, data: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "voice.json"
    path.write_text(json.dumps(data))
    code = main(["serve", "--config", str(path)])
    return code, capsys.readouterr().err


def _create_app_error(data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        create_app(config_from_mapping(data, env={}))
    return caught.value


CASES = [
    pytest.param(
        {"authToken": AUTH_TOKEN},
        "twilio.accountSid",
        'twilio.accountSid: required by provider "twilio" (or set TWILIO_ACCOUNT_SID)',
        id="no-account-sid",
    ),
    pytest.param(
        {"accountSid": ACCOUNT_SID},
        "twilio.authToken",
        'twilio.authToken: required by provider "twilio" (or set TWILIO_AUTH_TOKEN)',
        id="no-auth-token",
    ),
    pytest.param(
        {"accountSid": ACCOUNT_SID, "authTokn": AUTH_TOKEN},
        "twilio.authTokn",
        "unknown key twilio.authTokn (did you mean twilio.authToken?)",
        id="misspelled-key",
    ),
    pytest.param(
        {"accountSid": ACCOUNT_SID, "authToken": AUTH_TOKEN, "baseUrl": "api.twilio.com"},
        "twilio.baseUrl",
        "twilio.baseUrl: expected an http(s) URL, got 'api.twilio.com'",
        id="bad-base-url",
    ),
]


@pytest.mark.parametrize(("twilio", "path", "message"), CASES)
def test_twilio_settings_mistakes_stop_serve_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], twilio: dict[str, str], path: str, message: str
) -> None:
    code, err = _serve(tmp_path, _twilio(tmp_path, **twilio), capsys)
    assert code == 2
    assert err.splitlines()[-1] == f"config error: {message}"
    assert "Traceback" not in err
    assert AUTH_TOKEN not in err


@pytest.mark.parametrize(("twilio", "path", "message"), CASES)
def test_twilio_settings_mistakes_stop_create_app(
    tmp_path: Path, twilio: dict[str, str], path: str, message: str
) -> None:
    error = _create_app_error(_twilio(tmp_path, **twilio))
    assert (str(error), error.path) == (message, path)


def test_twilio_credentials_may_come_from_the_environment(tmp_path: Path) -> None:
    config = config_from_mapping(
        _twilio(tmp_path), env={"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    )
    Runtime.build(config, store=MemoryCallStore())


def test_with_both_carrier_forms_the_error_names_the_one_holding_the_key(tmp_path: Path) -> None:
    data = {**_twilio(tmp_path, accountSid=ACCOUNT_SID), "carriers": {"twilio": {"authTokn": AUTH_TOKEN}}}
    error = _create_app_error(data)
    assert str(error) == "unknown key carriers.twilio.authTokn (did you mean carriers.twilio.authToken?)"


def test_carriers_form_is_named_as_written(tmp_path: Path) -> None:
    data = {**_twilio(tmp_path), "carriers": {"twilio": {"authToken": AUTH_TOKEN}}}
    del data["twilio"]
    error = _create_app_error(data)
    assert (
        str(error) == 'carriers.twilio.accountSid: required by provider "twilio" (or set TWILIO_ACCOUNT_SID)'
    )


def test_openclaw_sections_of_other_carriers_are_accepted(tmp_path: Path) -> None:
    whole = {
        "plugins": {
            "entries": {
                "voice-call": {
                    "config": {
                        **_twilio(tmp_path, accountSid=ACCOUNT_SID, authToken=AUTH_TOKEN),
                        "telnyx": {"apiKey": "KEY", "connectionId": "c", "publicKey": "pk"},
                        "plivo": {"authId": "MA", "authToken": "pt"},
                    }
                }
            }
        }
    }
    runtime = Runtime.build(config_from_mapping(whole, env={}), store=MemoryCallStore())
    assert runtime.carrier.name == "twilio"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"agent": "opnai"}, "agent: no agent engine named 'opnai' (did you mean 'openai'?); installed: "),
        ({"provider": "twillio"}, "provider: no carrier adapter named 'twillio' (did you mean 'twilio'?)"),
        ({"agent": "openai"}, 'openai.apiKey: required by agent "openai" (or set OPENAI_API_KEY)'),
    ],
)
def test_unknown_names_and_missing_engine_keys_stop_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any], message: str
) -> None:
    code, err = _serve(tmp_path, {"store": str(tmp_path / "store"), **data}, capsys)
    assert code == 2
    assert err.splitlines()[-1].startswith(f"config error: {message}")
    assert "Traceback" not in err


def _unusable_store(tmp_path: Path) -> str:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    return str(blocker / "store")


def test_an_unusable_store_stops_serve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _unusable_store(tmp_path)
    code, err = _serve(tmp_path, {"store": store}, capsys)
    assert code == 2
    assert err.splitlines()[-1].startswith(
        f"config error: store: cannot use {store!r} as the data directory: "
    )
    assert "Traceback" not in err


def test_an_unusable_store_stops_create_app(tmp_path: Path) -> None:
    error = _create_app_error({"store": _unusable_store(tmp_path)})
    assert error.path == "store" and str(error).startswith("store: cannot use ")
    assert not (tmp_path / "a-file").is_dir()


def test_a_usable_store_is_created_and_named_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="telephony")
    runtime = Runtime.build(config_from_mapping({"store": str(tmp_path / "new" / "store")}, env={}))
    assert f"call store: SQLite in {tmp_path / 'new' / 'store'}" in caplog.messages
    assert (tmp_path / "new" / "store").is_dir()
    assert [p.name for p in (tmp_path / "new" / "store").iterdir() if p.name.startswith(".write-check")] == []
    asyncio.run(runtime.aclose())


# ---------------------------------------------------------------------- a Redis store


def test_an_unreachable_redis_stops_serve_with_one_line_and_no_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from telephony.server import free_port

    url = f"redis://user:pa55word-secret@127.0.0.1:{free_port()}/0"
    code, err = _serve(tmp_path, {"provider": "local", "store": url}, capsys)
    assert code == 2
    line = err.splitlines()[-1]
    assert line.startswith(
        "config error: store: cannot reach the Redis server at redis://user:***@127.0.0.1:"
    )
    assert "pa55word-secret" not in err and "Traceback" not in err


def test_a_redis_refusing_the_password_stops_create_app(redis_url: str) -> None:
    url = redis_url.replace("redis://", "redis://nobody:wrong-secret@")
    error = _create_app_error({"provider": "local", "store": url})
    assert error.path == "store"
    assert str(error).startswith("store: cannot reach the Redis server at redis://nobody:***@")
    assert "wrong-secret" not in str(error)


def test_a_redis_url_gives_the_redis_store_and_its_bus(redis_url: str) -> None:
    from telephony.bus.redis import RedisControlBus
    from telephony.store.redis import RedisCallStore

    runtime = Runtime.build(config_from_mapping({"store": redis_url, "storeKeyPrefix": "app2:"}, env={}))
    store = runtime.store.inner  # type: ignore[attr-defined]  # under the store timer of /metrics
    assert isinstance(store, RedisCallStore) and store.prefix == "app2:"
    assert isinstance(runtime.engine.bus, RedisControlBus)
    asyncio.run(runtime.store.close())


def test_the_store_url_password_is_redacted_from_the_logged_config(redis_url: str) -> None:
    config = config_from_mapping({"store": "rediss://:hunter2@redis.internal:6380/0"}, env={})
    assert config.redacted()["store"] == "rediss://:***@redis.internal:6380/0"
