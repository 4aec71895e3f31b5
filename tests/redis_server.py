"""A private ``redis-server`` for the tests: loopback only, a free port, nothing written to disk.

CI installs ``redis-server`` (see ``.ci/run``); where it is missing, every test that needs it
fails with the line to run, rather than being skipped where nobody looks.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from telephony.background import free_port

INSTALL_HINT = "redis-server is not installed; install it with: apt-get install -y redis-server"


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """Run a throwaway Redis until the block exits; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    port = free_port()
    command = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
        "--logfile", str(directory / "redis.log"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"redis-server did not start: {directory / 'redis.log'}") from None
                time.sleep(0.02)
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def flush(url: str) -> None:
    """Empty the test server, so each test starts with no keys."""
    client = redis.Redis.from_url(url)
    try:
        client.flushall()
    finally:
        client.close()
