"""Servers in processes of their own, for tests that kill them or run several side by side."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def start_crash_server(
    directory: Path, port: int, behaviour: str, lease_ms: int, *, quiet: bool = False
) -> subprocess.Popen[bytes]:
    """Start ``crash_server.py`` (see its docstring) on ``port``, with its store in ``directory``."""
    env = os.environ | {"PYTHONPATH": str(TESTS)}
    command = [
        sys.executable,
        str(TESTS / "crash_server.py"),
        str(directory),
        str(port),
        behaviour,
        str(lease_ms),
    ]
    return subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL if quiet else None)


async def wait_until_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    """Wait until ``process`` accepts connections on ``port``; fail if it exits or takes 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server process exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("the server did not start")
