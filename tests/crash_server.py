"""A Twilio-configured server in its own process, for tests that kill it with SIGKILL mid-turn.

Usage: ``python crash_server.py <store dir> <port> <hang|answer> <lease ms>``.

``hang``: the agent notes each turn it was asked (a line in ``<store dir>/asked``) and never
answers, so the test can kill the process while every turn is inside the agent.
``answer``: the agent answers at once with ``Recovered: <the caller's last words>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import uvicorn
from twilio_helpers import twilio_config

from telephony.providers import AgentReply, AgentRequest
from telephony.runtime import Runtime
from telephony.server import create_app, server_limits
from telephony.store import SqliteCallStore


class HangingAgent:
    def __init__(self, directory: Path) -> None:
        self.asked = directory / "asked"

    async def reply(self, request: AgentRequest) -> AgentReply:
        with self.asked.open("a") as log:
            log.write(request.call_id + "\n")
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


class AnsweringAgent:
    async def reply(self, request: AgentRequest) -> AgentReply:
        return AgentReply(text=f"Recovered: {request.transcript[-1].text}")


def main() -> None:
    directory, port, behaviour, lease_ms = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    config = twilio_config(webhookLeaseMs=int(lease_ms), maxConcurrentCalls=50, responseTimeoutMs=60_000)
    agent = HangingAgent(directory) if behaviour == "hang" else AnsweringAgent()
    runtime = Runtime.build(config, store=SqliteCallStore(directory), agent=agent)
    limits = server_limits(config) | {"host": "127.0.0.1", "port": port}
    uvicorn.run(create_app(config, runtime=runtime), log_level="warning", **limits)


if __name__ == "__main__":
    main()
