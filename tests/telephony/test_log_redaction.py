"""Stream tokens never reach a log line, whatever the mount; and stream URLs are built one way.

The real-socket check (uvicorn's own lines for accepted and refused upgrades) is in
``tests/contract/test_stream_upgrade.py``; here the filter meets uvicorn's record shapes under a
mount path and a router prefix, and paths it must leave alone.
"""

from __future__ import annotations

import logging

import pytest

from telephony.observability import HIDDEN, SecretsFilter, hide_secrets
from telephony.routes import Routes

TOKEN = "bQL78Qtt-REm-RcqozLG9GgNZNK_8F0d"


def _record(logger: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(logger, logging.INFO, __file__, 1, msg, args, None)


@pytest.mark.parametrize(
    "path",
    [
        f"/voice/stream/809d18ba28eb8368/{TOKEN}",
        f"/tel/voice/stream/809d18ba28eb8368/{TOKEN}",  # a host's mount, or the plugin's prefix
        f"/voice/stream/809d18ba28eb8368/{TOKEN}?x=1",
    ],
)
def test_the_token_in_a_logged_stream_path_is_hidden(path: str) -> None:
    hide_secrets("/voice/stream")
    websocket = _record("uvicorn.error", '%s - "WebSocket %s" 403', ("127.0.0.1", 5000), path)
    access = _record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 404)
    for record in (websocket, access):
        logging.getLogger(record.name).handle(record)  # through the logger's filters, as uvicorn logs
        message = record.getMessage()
        assert TOKEN not in message and f"/809d18ba28eb8368/{HIDDEN}" in message, message


def test_other_paths_and_messages_are_left_alone() -> None:
    hidden = SecretsFilter()
    hidden.add("/voice/stream")
    for text in (
        "/voice/stream",
        "/voice/stream/809d18ba28eb8368",
        "/voice/streams/809d18ba28eb8368/abc",
        "/voice/webhook?callId=809d18ba28eb8368&kind=gather",
    ):
        assert hidden.redact(text) == text
    record = _record("uvicorn.error", "connection open")
    assert hidden.filter(record) and record.getMessage() == "connection open"


def test_a_stream_url_names_both_its_call_and_token_or_neither() -> None:
    routes = Routes(public_url="https://voice.example.com", webhook_path="/voice/webhook", stream_path="/s")
    assert routes.stream_url() == "wss://voice.example.com/s"
    assert routes.stream_url("abc123", "t/k n") == "wss://voice.example.com/s/abc123/t%2Fk%20n"
    assert routes.stream_routes() == ("/s", "/s/{call_id:str}/{token:str}")
    with pytest.raises(ValueError, match="both its call and its token"):
        routes.stream_url("abc123")
