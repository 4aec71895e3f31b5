"""Hypothesis strategies that break carrier payloads the ways the network and careless peers do.

Mutations start from a documented payload (:mod:`.samples`): drop, duplicate or retype a key,
put junk, a huge string or a nested structure where a scalar belongs, then damage the encoded
bytes (truncate, splice in non-UTF-8, bad percent-escapes). Strings that defeat common checks
(``"²".isdigit()`` is True but ``int("²")`` fails; base64 that decodes to junk JSON; numbers
too long for ``int``) are drawn often, since uniform random text rarely finds them.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from telephony.providers._identity import MAX_CLIENT_STATE


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


TRICKY_TEXT: list[str] = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "nan",
    "inf",
    "²",  # isdigit(), but int() refuses it
    "¹²³",
    "١٢٣",  # Arabic-Indic digits: int() accepts them
    "9" * 5000,  # longer than int() converts
    "9" * 25,
    "1_000",
    " 12 ",
    "0x10",
    "\x00",
    "%",
    "%ZZ",
    "%E2%82",  # a truncated UTF-8 sequence, percent-encoded
    "%ff%fe",
    "a=b&c",
    "==",
    "!!!!",  # not base64
    "YQ",  # base64 without its padding
    "YQ==\n",
    _b64(b"\xff\xfe\x00"),  # base64 of non-UTF-8
    _b64("{}"),
    _b64("[]"),
    _b64('{"callId": 5}'),
    _b64('{"callId": "c", "turn": "x"}'),
    _b64('{"callId": "c", "turn": 99999999999999999999999}'),
    _b64('{"callId": "c", "turn": -3}'),
    _b64('{"callId": ""}'),
    "A" * (MAX_CLIENT_STATE + 4),
    "x" * 70_000,  # larger than any webhook or frame we accept
    "\u2028",  # a line separator
    "\U0001d7d8\U0001d7d9",  # mathematical digits: isdigit() is True
    "machine_start",
    "completed",
    "in-progress",
    "gather",
    "answer",
    "status",
    "record",
    "pending",
    "partial",
    "amd",
    "StartApp",
    "Hangup",
    "inbound",
    "outbound",
    "audio/x-l16",
    "audio/x-alaw",
    "PCMA",
    "L16",
    "G722",
    "OPUS",
]

NUMERIC_TEXT: list[str] = ["", "0", "-0", "+5", "3.5", "-1", "1e309", "nan", "inf", "1_000", " 12 ", "0x10"]
NUMERIC_TEXT += ["²", "¹²³", "١٢٣", "\U0001d7d8\U0001d7d9", "9" * 25, "9" * 400, "9" * 5000]

text_junk = st.one_of(st.sampled_from(TRICKY_TEXT), st.text(max_size=40))
"""Strings worth trying wherever a string goes."""

numeric_junk = st.one_of(st.sampled_from(NUMERIC_TEXT), text_junk)
"""Strings worth trying where a carrier sends a number as text (a turn, a timestamp, a rate)."""


BASE64_TEXT: list[str] = [
    "",
    "=",
    "A",
    "AA",
    "AAA",
    "YQ",
    "YQ=",
    "!!!!",
    "AAAA\n",
    "A A=",
    "é",
    "²AAA",
    "-_-_",
]
BASE64_TEXT += ["A" * 70_001, "AAAA" * 17_000]

base64_junk = st.one_of(st.sampled_from(BASE64_TEXT), text_junk)
"""Strings worth trying where a carrier sends base64 (audio payloads, client state)."""


def _looks_base64(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) >= 12
        and value.rstrip("=").replace("+", "").replace("/", "").isalnum()
    )


def _looks_numeric(value: object) -> bool:
    return isinstance(value, int | float) or (
        isinstance(value, str) and value.lstrip("-").replace(".", "").isdigit()
    )


def junk_for(value: object) -> st.SearchStrategy[Any]:
    """Junk for the place of ``value``: number-like text where a number was, favoured."""
    if _looks_numeric(value):
        return st.one_of(numeric_junk, json_junk)
    return st.one_of(base64_junk, json_junk) if _looks_base64(value) else json_junk


huge_text = st.builds(
    lambda char, n: char * n, st.sampled_from(["a", "9", "é", "\x00", "%"]), st.integers(1_000, 70_000)
)

long_text = st.builds(
    lambda char, n: char * n, st.sampled_from(["a", "9", "é", "%"]), st.integers(200, 2_000)
)
"""Long, but within what a URL can carry."""

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, 0, -1, 8000, 48001, 7999]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, 1e-320, 0.5, -0.0]),
    text_junk,
)

json_junk = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text_junk, children, max_size=4),
    max_leaves=12,
)
"""Any JSON value, favouring the scalars that trip parsers."""


class Pairs(list[tuple[str, Any]]):
    """A JSON object written with its keys as given: duplicates stay duplicated."""


def dump_json(value: Any, *, ensure_ascii: bool = False) -> str:
    """JSON text for ``value``; a :class:`Pairs` is written key by key, duplicates included."""
    if isinstance(value, Pairs):
        return (
            "{"
            + ",".join(f"{json.dumps(k)}:{dump_json(v, ensure_ascii=ensure_ascii)}" for k, v in value)
            + "}"
        )
    if isinstance(value, dict):
        return dump_json(Pairs(value.items()), ensure_ascii=ensure_ascii)
    if isinstance(value, list):
        return "[" + ",".join(dump_json(item, ensure_ascii=ensure_ascii) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ensure_ascii)


def _slots(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document that a mutation can land: keys of objects, list items."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*path, key))
            found.extend(_slots(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*path, index))
            found.extend(_slots(item, (*path, index)))
    return found


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        document = document[step]
    return document


@st.composite
def mutated_document(draw: st.DrawFn, seed: dict[str, Any]) -> Any:
    """``seed`` after a few structural mutations; may be :class:`Pairs` (duplicate keys)."""
    document: Any = copy.deepcopy(seed)
    for _ in range(draw(st.integers(0, 4))):
        slots = _slots(document)
        if not slots:
            break
        path = draw(st.sampled_from(slots))
        parent = _parent(document, path)
        key = path[-1]
        match draw(st.sampled_from(["drop", "junk", "huge", "nest", "string", "duplicate"])):
            case "drop":
                del parent[key]
            case "junk":
                parent[key] = draw(junk_for(parent[key]))
            case "huge":
                parent[key] = draw(huge_text)
            case "nest":
                parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}, [], {}]))
            case "string":  # a number, bool or object where the carrier sends text, and back
                item = parent[key]
                parent[key] = json.dumps(item) if not isinstance(item, str) else draw(json_junk)
            case "duplicate" if isinstance(parent, dict):
                pairs = Pairs(parent.items())
                pairs.append((key, draw(json_junk)))
                if len(path) == 1:
                    return pairs  # the top-level object, with one key twice
                _parent(document, path[:-1])[path[-2]] = pairs
                return document
    return document


@st.composite
def damaged_bytes(draw: st.DrawFn, text: str) -> bytes:
    """``text`` encoded, then possibly truncated or spliced with bytes that are not UTF-8."""
    data = text.encode("utf-8", "surrogatepass")
    match draw(st.sampled_from(["none", "none", "truncate", "splice", "latin1"])):
        case "truncate":
            return data[: draw(st.integers(0, len(data)))]
        case "splice":
            at = draw(st.integers(0, len(data)))
            return (
                data[:at]
                + draw(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\x00", b"\xed\xa0\x80"]))
                + data[at:]
            )
        case "latin1":
            return text.encode("latin-1", "replace")
    return data


@st.composite
def json_body(draw: st.DrawFn, seed: dict[str, Any]) -> bytes:
    """A JSON webhook body or media frame derived from ``seed``, possibly not JSON any more."""
    document = draw(mutated_document(seed))
    return draw(damaged_bytes(dump_json(document, ensure_ascii=draw(st.booleans()))))


@st.composite
def mutated_form(
    draw: st.DrawFn, seed: dict[str, str], huge: st.SearchStrategy[str] = huge_text
) -> list[tuple[str, str]]:
    """Form parameters from ``seed``: keys dropped, duplicated, given junk or ``huge`` values."""
    pairs = list(seed.items())
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["drop", "junk", "huge", "duplicate", "add"]))
        if op == "add" or not pairs:
            pairs.append((draw(text_junk), draw(text_junk)))
            continue
        index = draw(st.integers(0, len(pairs) - 1))
        key, value = pairs[index]
        match op:
            case "drop":
                del pairs[index]
            case "junk":
                pairs[index] = (key, draw(numeric_junk if _looks_numeric(value) else text_junk))
            case "huge":
                pairs[index] = (key, draw(huge))
            case "duplicate":
                pairs.insert(index + draw(st.integers(0, 1)), (key, draw(text_junk)))
    return pairs


_BAD_ESCAPES = ["%", "%Z", "%ZZ", "%E2%82", "%ff", "%00", "&&", "==", "=&=", "+", ";", "%2"]


@st.composite
def form_body(draw: st.DrawFn, seed: dict[str, str]) -> bytes:
    """A form-encoded body derived from ``seed``, with bad escapes and bytes spliced in at times."""
    text = urlencode(draw(mutated_form(seed)))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(_BAD_ESCAPES)) + text[at:]
    return draw(damaged_bytes(text))


@st.composite
def query_string(draw: st.DrawFn, seed: dict[str, str]) -> str:
    """Our callback URL's query (``callId``, ``kind``, ``turn``...) mutated like a form.

    Only what an HTTP request line can carry: ASCII, with anything else percent-encoded.
    """
    pairs = draw(mutated_form(seed, huge=long_text))
    text = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(_BAD_ESCAPES)) + text[at:]
    return text


header_text = st.one_of(
    st.sampled_from(
        [t for t in TRICKY_TEXT if len(t) < 200 and t.isprintable() and all(ord(c) < 256 for c in t)]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60),
)
"""Header values as a server hands them over: Latin-1 text (HTTP headers are bytes)."""
