"""Log lines through the real app: they name their call, hold no secret, and no caller speech at INFO."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import respx
from conftest import TWILIO_CALLS
from plivo_helpers import AUTH_TOKEN as PLIVO_AUTH_TOKEN
from telnyx_helpers import API_KEY as TELNYX_API_KEY
from test_conversations import CALLER, OUR_NUMBER, SCRIPT, _carrier_serving, _ended
from test_stream_seed import CONNECTED, _connect_stream, _start, _until
from test_stream_turns import ScriptedSTT, _ack, _speak
from twilio_helpers import AUTH_TOKEN as TWILIO_AUTH_TOKEN
from twilio_helpers import CALL_SID, WEBHOOK_URL, incoming_call, post_signed, twilio_app, twilio_config, twiml

from telephony.config import config_from_mapping
from telephony.observability import (
    CallContextFilter,
    JsonFormatter,
    TextFormatter,
    bind_call,
    call_context,
    configure_logging,
    current_call,
)
from telephony.runtime import Runtime
from telephony.server import background_server, create_app, free_port

CONTROL_TOKEN = "control-token-5f1e2d3c4b5a69788796a5b4"
WORDS = "my account number is 4471 and my name is Ada"


Records = Callable[[], list[logging.LogRecord]]


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[Records]:
    """The test's records at DEBUG and above, each with the call context, as a configured handler has it."""
    context = CallContextFilter()
    caplog.handler.addFilter(context)
    caplog.set_level(logging.DEBUG)
    try:
        yield lambda: caplog.records
    finally:
        caplog.handler.removeFilter(context)


def _rendered(records: list[logging.LogRecord]) -> str:
    """Everything a handler would write, in both formats (tracebacks included)."""
    text, as_json = TextFormatter(), JsonFormatter()
    return "\n".join(f"{text.format(record)}\n{as_json.format(record)}" for record in records)


def _gather_turn(client: Any, words: str) -> str:
    greeting = twiml(post_signed(client, WEBHOOK_URL, incoming_call()).text).find("Gather")
    assert greeting is not None
    params = incoming_call() | {"CallStatus": "in-progress", "SpeechResult": words}
    assert post_signed(client, greeting.attrib["action"], params).status_code == 200
    call_id: str = client.get("/api/calls").json()[0]["call_id"]
    return call_id


def test_engine_and_server_lines_name_their_call_and_carrier(logged: Records) -> None:
    with twilio_app(twilio_config()) as client:
        greeting = twiml(post_signed(client, WEBHOOK_URL, incoming_call()).text).find("Gather")
        assert greeting is not None
        params = incoming_call() | {"CallStatus": "in-progress", "SpeechResult": "What time is it?"}
        post_signed(client, greeting.attrib["action"], params)
        post_signed(client, greeting.attrib["action"], params)  # Twilio's retry: a server line
        call_id = client.get("/api/calls").json()[0]["call_id"]
    records = logged()
    turn = [r for r in records if r.name == "telephony.engine" and "answered in" in r.getMessage()]
    assert len(turn) == 1 and turn[0].levelno == logging.INFO
    assert (turn[0].call_id, turn[0].carrier) == (call_id, "twilio")  # type: ignore[attr-defined]
    duplicate = [r for r in records if "duplicate webhook" in r.getMessage()]
    assert duplicate and duplicate[0].call_id == call_id  # type: ignore[attr-defined]
    started = [r for r in records if "URL for" in r.getMessage()]
    assert started and started[0].call_id is None, "start-up lines belong to no call"  # type: ignore[attr-defined]


def test_caller_speech_and_replies_are_logged_at_debug_only(logged: Records) -> None:
    with twilio_app(twilio_config()) as client:
        _gather_turn(client, WORDS)
        reply = client.get("/api/calls").json()[0]["transcript"][-1]["text"]
    records = logged()
    info = _rendered([r for r in records if r.levelno >= logging.INFO])
    debug = _rendered([r for r in records if r.levelno < logging.INFO])
    assert WORDS not in info and reply not in info
    assert WORDS in debug and reply in debug, "at DEBUG the words are there (so the INFO check can fail)"
    assert "answered in" in info, "INFO still tells that a turn happened"


@pytest.mark.parametrize("carrier", ["twilio", "telnyx", "plivo"])
async def test_no_secret_reaches_the_log_even_at_debug(
    carrier: str, no_network: respx.MockRouter, logged: Records
) -> None:
    secrets = {
        "twilio": TWILIO_AUTH_TOKEN,
        "telnyx": TELNYX_API_KEY,
        "plivo": PLIVO_AUTH_TOKEN,
    }[carrier]
    async with _carrier_serving(carrier, no_network, controlToken=CONTROL_TOKEN) as (runtime, far_end):
        assert runtime.config.control_token == CONTROL_TOKEN
        call = await far_end.inbound_call(caller=CALLER, callee=OUR_NUMBER, script=list(SCRIPT))
        record = await runtime.store.get_by_provider_id(runtime.carrier.name, call.provider_call_id)
        assert record is not None
        record = await _ended(runtime, record.call_id)
        placed = await runtime.engine.place_call(to=CALLER, message="Your order shipped.", mode="notify")
        await _ended(runtime, placed.call_id)
    assert record.turn_count == len(SCRIPT), "the conversation ran"
    records = logged()
    text = _rendered(records)
    assert "answered in" in text
    for secret in (secrets, CONTROL_TOKEN):
        assert secret not in text
    info = _rendered([r for r in records if r.levelno >= logging.INFO])
    for line in SCRIPT:
        assert line not in info


def test_stream_token_control_token_and_speech_stay_out_of_the_log(
    twilio_api: respx.MockRouter, logged: Records
) -> None:
    config = twilio_config(streaming=True, controlToken=CONTROL_TOKEN)
    with twilio_app(config, stt=ScriptedSTT([WORDS])) as client:
        url, params = _connect_stream(client)
        with client.websocket_connect(urlsplit(url).path) as ws:
            ws.send_text(CONNECTED)
            ws.send_text(_start(params))
            _ack(ws, _until(ws, "mark")[-1])
            _speak(ws)
            _ack(ws, _until(ws, "mark")[-1])
        assert client.get("/api/calls").status_code == 401
        calls = client.get("/api/calls", headers={"Authorization": f"Bearer {CONTROL_TOKEN}"}).json()
    records = logged()
    text = _rendered(records)
    for secret in (params["token"], CONTROL_TOKEN, TWILIO_AUTH_TOKEN):
        assert secret not in text
    assert WORDS not in _rendered([r for r in records if r.levelno >= logging.INFO])
    turn = [r for r in records if "answered in" in r.getMessage()]
    assert [r.call_id for r in turn] == [calls[0]["call_id"]], "a stream's lines name its call"  # type: ignore[attr-defined]


# ---------------------------------------------------------------- formats and the context


def _record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("telephony.engine", level, __file__, 1, message, None, None)


def test_json_lines_have_fixed_fields() -> None:
    stream = io.StringIO()
    logger = logging.Logger("telephony.test.json")
    handler = configure_logging("DEBUG", "json", stream=stream, logger=logger)
    assert handler is not None and logger.level == logging.DEBUG
    with call_context("0123456789abcdef", "twilio"):
        logger.info("call answered")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "call answered" and first["level"] == "INFO"
    assert (first["call_id"], first["carrier"], first["logger"]) == (
        "0123456789abcdef",
        "twilio",
        logger.name,
    )
    assert first["ts"].endswith("+00:00")
    assert second["call_id"] is None and "ValueError: boom" in second["exc"]


def test_text_lines_stay_readable() -> None:
    stream = io.StringIO()
    logger = logging.Logger("telephony.test.text")
    configure_logging(logging.INFO, "text", stream=stream, logger=logger)
    logger.info("no call here")
    with call_context("0123456789abcdef", "telnyx"):
        logger.info("turn answered")
    plain, tagged = stream.getvalue().splitlines()
    assert plain.endswith(" INFO telephony.test.text: no call here")
    assert tagged.endswith(" INFO telephony.test.text call=0123456789abcdef carrier=telnyx: turn answered")


def test_configure_logging_replaces_its_own_handler_and_leaves_a_hosts_alone() -> None:
    logger = logging.Logger("telephony.test.configure")
    first = configure_logging(logging.INFO, "text", stream=io.StringIO(), logger=logger)
    second = configure_logging(logging.INFO, "json", stream=io.StringIO(), logger=logger)
    assert logger.handlers == [second] and first is not second
    host = logging.Logger("telephony.test.host")
    theirs = logging.StreamHandler(io.StringIO())
    host.addHandler(theirs)
    assert configure_logging(logging.INFO, "json", logger=host) is None
    assert host.handlers == [theirs]


async def test_a_call_context_ends_with_its_block_and_a_binding_keeps_what_it_is_not_given() -> None:
    assert current_call() == (None, None)
    with call_context(carrier="plivo"):
        bind_call("aaaa")
        assert current_call() == ("aaaa", "plivo")
        with call_context("bbbb"):
            assert current_call() == ("bbbb", "plivo")
        assert current_call() == ("aaaa", "plivo")
    assert current_call() == (None, None)


def test_a_record_logged_elsewhere_keeps_its_own_call() -> None:
    record = _record("from a queue")
    record.call_id, record.carrier = "cccc", "twilio"
    with call_context("dddd", "plivo"):
        CallContextFilter().filter(record)
    assert (record.call_id, record.carrier) == ("cccc", "twilio")


def test_the_log_format_comes_from_the_config_or_its_environment_variable() -> None:
    assert config_from_mapping({}, env={}).logging.format == "text"
    assert config_from_mapping({}, env={"TELEPHONY_LOG_FORMAT": "json"}).logging.format == "json"
    written = config_from_mapping({"logging": {"format": "text"}}, env={"TELEPHONY_LOG_FORMAT": "json"})
    assert written.logging.format == "text", "a value in the file wins"


def test_a_control_request_about_a_call_names_it_in_its_lines(
    twilio_api: respx.MockRouter, logged: Records
) -> None:
    twilio_api.post(f"{TWILIO_CALLS}/{CALL_SID}.json").mock(return_value=httpx.Response(500, json={}))
    with twilio_app(twilio_config()) as client:
        call_id = _gather_turn(client, "Hello.")
        assert client.post(f"/api/calls/{call_id}/end").status_code == 502
    failed = [r for r in logged() if r.name == "telephony.server" and r.levelno == logging.ERROR]
    assert failed and {(r.call_id, r.carrier) for r in failed} == {(call_id, "twilio")}  # type: ignore[attr-defined]


def test_secrets_in_query_strings_never_reach_the_log() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test.access.redaction")
    logger.propagate = False
    configure_logging(log_format="text", stream=stream, logger=logger)
    # uvicorn's access line: client, method, path with query, HTTP version, status.
    logger.info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        "/voice/stream?token=abc123&callId=c1&X-Api-Key=k9&signature=s1",
        "1.1",
        403,
    )
    logger.warning("refused /api/calls?access_token=zzz")
    line = stream.getvalue()
    assert "abc123" not in line and "k9" not in line and "s1" not in line and "zzz" not in line
    assert "token=[redacted]&callId=c1&X-Api-Key=[redacted]&signature=[redacted]" in line
    assert "access_token=[redacted]" in line


async def test_the_access_log_of_a_real_server_redacts_a_refused_token(tmp_path: Path) -> None:
    port = free_port()
    config = config_from_mapping(
        {
            "provider": "local",
            "fromNumber": "+15005550006",
            "serve": {"port": port},
            "store": str(tmp_path / "store"),
            "controlToken": "real-secret",
            "carriers": {"local": {"secret": "s"}},
        },
        env={},
    )
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    async with background_server(create_app(config, runtime=Runtime.build(config)), port=port) as url:
        access = logging.getLogger("uvicorn.access")
        access.setLevel(logging.INFO)
        access.addHandler(keep := Keep())
        try:
            async with httpx.AsyncClient() as http:
                refused = await http.get(f"{url}/api/calls?token=guessed-secret")
        finally:
            access.removeHandler(keep)
    assert refused.status_code == 401
    assert lines and "token=[redacted]" in lines[-1]
    assert not any("guessed-secret" in line for line in lines)
