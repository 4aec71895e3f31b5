"""An openclaw voice-call config starts the server unchanged, and its keys take effect."""

from __future__ import annotations

import json
from pathlib import Path

from twilio_helpers import AUTH_TOKEN, incoming_call, post_signed, twilio_app, twiml

from telephony.config import load_config

OPENCLAW_FILE = {
    "plugins": {
        "entries": {
            "voice-call": {
                "enabled": True,
                "config": {
                    "provider": "twilio",
                    "fromNumber": "+15550001234",
                    "publicUrl": "https://calls.example.net/",
                    "serve": {"port": 3334, "bind": "127.0.0.1", "path": "/hooks/voice"},
                    "streaming": {"enabled": False, "streamPath": "/hooks/stream"},
                    "inboundPolicy": "allowlist",
                    "allowFrom": ["+14158675309"],
                    "inboundGreeting": "Thanks for calling the front desk.",
                    "twilio": {"accountSid": "AC" + "5" * 32},
                    "tts": {"providers": {"openai": {"voice": "echo"}}},
                    "outbound": {"defaultMode": "conversation"},
                },
            }
        }
    }
}


def test_whole_openclaw_file_drives_routes_policy_greeting_and_voice(tmp_path: Path) -> None:
    path = tmp_path / "openclaw.json"
    path.write_text(json.dumps(OPENCLAW_FILE))
    config = load_config(path, env={"TWILIO_AUTH_TOKEN": AUTH_TOKEN})
    url = "https://calls.example.net/hooks/voice"
    with twilio_app(config) as client:
        root = twiml(post_signed(client, url, incoming_call()).text)
        assert client.post("/voice/webhook").status_code == 404
    gather = root.find("Gather")
    assert gather is not None and gather.attrib["action"].startswith(url + "?callId=")
    say = gather.find("Say")
    assert say is not None and say.text == "Thanks for calling the front desk."
    assert say.attrib["voice"] == "Polly.Matthew"
