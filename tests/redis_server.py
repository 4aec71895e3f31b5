"""A private ``redis-server`` for the tests: loopback only, a free port, nothing written to disk.

``make test`` installs ``redis-server`` when it can. Where it is still missing, the tests that
need it are skipped with the line to run, except in CI (``CI`` set, as ``.ci/run`` does), where
they fail: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from telephony.background import free_port

INSTALL_HINT = "redis-server is not installed; install it with: sudo apt-get install -y redis-server"


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """Run a throwaway Redis until the block exits; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"{INSTALL_HINT} (CI runs the Redis-backed tests)", pytrace=False)
        pytest.skip(f"{INSTALL_HINT} (Redis-backed test skipped)")
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
