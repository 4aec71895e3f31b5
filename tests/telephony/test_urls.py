"""publicUrl read in both forms, and mount paths joined exactly once."""

from __future__ import annotations

import pytest

from telephony.urls import join_path, public_base, redact, with_origin


@pytest.mark.parametrize(
    ("configured", "base"),
    [
        ("https://voice.example.com", "https://voice.example.com"),
        ("https://voice.example.com/voice/webhook", "https://voice.example.com"),
        ("https://voice.example.com/tel", "https://voice.example.com/tel"),
        ("https://voice.example.com/tel/voice/webhook", "https://voice.example.com/tel"),
        ("https://voice.example.com/voice/webhook/", "https://voice.example.com"),
        ("http://127.0.0.1:3334/voice/webhook", "http://127.0.0.1:3334"),
        # A path that merely ends in the same letters is a prefix, not the webhook.
        ("https://voice.example.com/myvoice/webhook", "https://voice.example.com/myvoice/webhook"),
        ("https://voice.example.com/voice/webhook/extra", "https://voice.example.com/voice/webhook/extra"),
    ],
)
def test_public_base_reads_both_forms(configured: str, base: str) -> None:
    assert public_base(configured, "/voice/webhook").base == base


def test_public_base_follows_serve_path() -> None:
    assert public_base("https://h.example/hooks/twilio", "/hooks/twilio").base == "https://h.example"
    assert public_base("https://h.example/voice/webhook", "/hooks/twilio").base == (
        "https://h.example/voice/webhook"
    )


def test_public_base_drops_and_reports_a_query() -> None:
    read = public_base("https://voice.openclaw.ai/voice/webhook?provider=plivo", "/voice/webhook")
    assert read.base == "https://voice.openclaw.ai"
    assert read.ignored == "?provider=plivo"
    assert public_base("https://voice.openclaw.ai", "/voice/webhook").ignored == ""


@pytest.mark.parametrize(
    ("base", "mount", "joined"),
    [
        ("https://h.example", "", "https://h.example"),
        ("https://h.example", "/tel", "https://h.example/tel"),
        ("https://h.example/tel", "/tel", "https://h.example/tel"),
        ("https://h.example/edge", "/tel", "https://h.example/edge/tel"),
        ("https://h.example/api", "/api/tel", "https://h.example/api/tel"),
        ("https://h.example/api/tel", "/api/tel", "https://h.example/api/tel"),
        ("https://h.example/tele", "/tel", "https://h.example/tele/tel"),
        ("https://h.example/tel/tel", "/tel", "https://h.example/tel/tel"),
        ("https://h.example:8443/a", "/a/b/", "https://h.example:8443/a/b"),
    ],
)
def test_join_path_puts_a_shared_part_once(base: str, mount: str, joined: str) -> None:
    assert join_path(base, mount) == joined


def test_with_origin_keeps_the_prefix() -> None:
    assert with_origin("https://a.example/tel", "https", "b.example") == "https://b.example/tel"


def test_redact_masks_passwords_only() -> None:
    assert redact("https://u:s3cret@h.example/voice/webhook") == "https://u:***@h.example/voice/webhook"
    assert (
        redact("https://h.example/voice/webhook?kind=status") == "https://h.example/voice/webhook?kind=status"
    )
