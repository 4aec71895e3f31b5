"""The demo is part of the suite: both calls must complete over real HTTP and WebSockets."""

from __future__ import annotations

from telephony.cli import run_demo


async def test_demo_completes_both_calls() -> None:
    lines: list[str] = []
    assert await run_demo(out=lines.append, timeout=60)
    text = "\n".join(lines)
    assert "Call 1: markup mode" in text and "Call 2: stream mode" in text
    assert text.count("caller:") >= 4
    assert "demo passed" in text
