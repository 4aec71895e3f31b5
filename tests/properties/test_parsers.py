"""Every carrier's webhook verifier and parser, fed mutated documented webhooks and plain junk.

The property: a parser returns a well-typed event or None, or refuses with
:class:`WebhookRejected` and a 4xx status; a verifier accepts nothing unsigned and refuses with a
401 or 403. Any other exception would reach the server as a 500, and a carrier retries those.
"""

from __future__ import annotations

import time
import typing

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from telephony.providers import CallEvent, WebhookRejected, WebhookRequest

from .carriers import CARRIERS, FORM_CARRIERS, assert_well_typed, build
from .samples import WEBHOOK_URL, WEBHOOKS
from .strategies import NUMERIC_TEXT, form_body, header_text, json_body, query_string

EVENT_TYPES = typing.get_args(CallEvent)
SIGNATURE_HEADERS = [
    "x-twilio-signature",
    "telnyx-signature-ed25519",
    "telnyx-timestamp",
    "x-plivo-signature-v3",
    "x-plivo-signature-ma-v3",
    "x-plivo-signature-v3-nonce",
    "x-local-signature",
    "x-local-timestamp",
    "acme-signature",
]


def parse_or_refuse(name: str, request: WebhookRequest) -> CallEvent | None:
    """What the parser of ``name`` makes of ``request``, checked against the contract."""
    try:
        event = build(name).parser.parse(request)
    except WebhookRejected as exc:
        assert 400 <= exc.status < 500, exc.status
        assert exc.reason
        return None
    if event is not None:
        assert isinstance(event, EVENT_TYPES), event
        assert_well_typed(event)
    return event


@st.composite
def mutated_webhooks(draw: st.DrawFn, name: str) -> WebhookRequest:
    """One of the carrier's documented webhooks, mutated in its body and in our query string."""
    seed = draw(st.sampled_from(WEBHOOKS[name]))
    if name in FORM_CARRIERS:
        assert seed.form is not None
        if draw(st.integers(0, 4)) == 0:  # a GET carries its parameters in the query string
            query = draw(query_string(seed.query | seed.form))
            return WebhookRequest(method="GET", url=f"{WEBHOOK_URL}?{query}", headers={})
        body = draw(form_body(seed.form))
        content_type = "application/x-www-form-urlencoded"
    else:
        assert seed.document is not None
        body = draw(json_body(seed.document))
        content_type = "application/json"
    query = draw(query_string(seed.query))
    url = WEBHOOK_URL + (f"?{query}" if query else "")
    return WebhookRequest(method="POST", url=url, headers={"content-type": content_type}, body=body)


def _post(url: str, body: bytes) -> WebhookRequest:
    return WebhookRequest(method="POST", url=url, headers={}, body=body)


@pytest.mark.parametrize("name", CARRIERS)
@given(data=st.data())
def test_a_mutated_webhook_parses_or_is_refused_with_4xx(name: str, data: st.DataObject) -> None:
    parse_or_refuse(name, data.draw(mutated_webhooks(name)))


# Regressions the properties found; each was an uncaught exception (a 500) before its fix.
_TURN_SUPERSCRIPT = WEBHOOK_URL + "?callId=c1&kind=gather&turn=%C2%B2"
_TWILIO_GATHER = b"CallSid=CA1&SpeechResult=yes"


@pytest.mark.parametrize("name", CARRIERS)
@given(body=st.binary(max_size=2048), query=st.text(max_size=80))
@example(body=_TWILIO_GATHER, query="callId=c1&kind=gather&turn=%C2%B2")
@example(body=b"CallUUID=u1&Speech=yes&InputType=speech", query="callId=c1&kind=gather&turn=%F0%9D%9F%98")
def test_arbitrary_bytes_parse_or_are_refused_with_4xx(name: str, body: bytes, query: str) -> None:
    parse_or_refuse(name, _post(WEBHOOK_URL + "?" + query, body))


def test_a_superscript_turn_is_no_turn() -> None:
    event = parse_or_refuse("twilio", _post(_TURN_SUPERSCRIPT, _TWILIO_GATHER))
    assert event is not None and event.call_id == "c1" and event.turn is None


numeric_header_text = st.sampled_from([text for text in NUMERIC_TEXT if all(ord(c) < 256 for c in text)])
STAMP = "{stamp}"
"""Where a drawn header holds a timestamp; the test fills it in, so the draw does not depend on now."""


@st.composite
def signature_headers(draw: st.DrawFn) -> tuple[dict[str, str], str | int]:
    """Signature headers of every carrier with junk values, some shaped like the real ones, and
    a timestamp for them: junk text, or an offset in seconds from now."""
    keys = draw(st.lists(st.sampled_from(SIGNATURE_HEADERS), unique=True, max_size=4))
    headers = {key: draw(header_text) for key in keys}
    if draw(st.booleans()):
        headers["acme-signature"] = f"t={STAMP},v1={draw(header_text)}"
    if draw(st.booleans()):
        headers[draw(st.sampled_from(["telnyx-timestamp", "x-local-timestamp"]))] = STAMP
    return headers, draw(st.one_of(numeric_header_text, header_text, st.integers(-(10**10), 10**10)))


def stamped(headers: dict[str, str], stamp: str | int) -> dict[str, str]:
    text = str(int(time.time()) + stamp) if isinstance(stamp, int) else stamp
    return {key: value.replace(STAMP, text) for key, value in headers.items()}


@pytest.mark.parametrize("name", CARRIERS)
@given(
    signed=signature_headers(),
    body=st.binary(max_size=512),
    method=st.sampled_from(["POST", "GET"]),
    query=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="#\x7f"), max_size=30
    ),
)
@example(
    signed=({"x-plivo-signature-v3": "x", "x-plivo-signature-v3-nonce": "1"}, 0),
    body=b"",
    method="POST",
    query="a=é",
)
@example(
    signed=({"telnyx-signature-ed25519": "A" * 88, "telnyx-timestamp": STAMP}, "²"),
    body=b"",
    method="POST",
    query="",
)
@example(signed=({"acme-signature": f"t={STAMP},v1=00"}, "²"), body=b"{}", method="POST", query="")
@example(
    signed=({"x-local-signature": "v1=00", "x-local-timestamp": STAMP}, "9" * 400),
    body=b"",
    method="POST",
    query="",
)
def test_a_request_without_a_valid_signature_is_refused_with_401_or_403(
    name: str, signed: tuple[dict[str, str], str | int], body: bytes, method: str, query: str
) -> None:
    url = WEBHOOK_URL + (f"?{query}" if query else "")  # the query as the server reads it: Latin-1
    request = WebhookRequest(method=method, url=url, headers=stamped(*signed), body=body)
    with pytest.raises(WebhookRejected) as refused:
        build(name).verifier.verify(request)
    assert refused.value.status in (401, 403)
