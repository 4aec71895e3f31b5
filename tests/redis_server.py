"""A private ``redis-server`` for the tests: loopback only, a free port, nothing written to disk.

``make test`` installs ``redis-server`` when it can. Where it is still missing, the tests that
need it are skipped with the line to run, except in CI (``CI`` set, as ``.ci/run`` does), where
they fail: CI must run them.

:class:`RedisProcess` is one the outage tests break on purpose: killed (``kill -9``), frozen
(``SIGSTOP``), thawed and restarted on the same port, with an append-only file written on every
write so a restart brings back everything the killed server had acknowledged.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from telephony.server import free_port

INSTALL_HINT = "redis-server is not installed; install it with: sudo apt-get install -y redis-server"


def _binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"{INSTALL_HINT} (CI runs the Redis-backed tests)", pytrace=False)
        pytest.skip(f"{INSTALL_HINT} (Redis-backed test skipped)")
    return binary


def _wait_until_answering(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                client.ping()
                return
            except (redis.ConnectionError, redis.TimeoutError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"redis-server did not start: {log}") from None
                time.sleep(0.02)
    finally:
        client.close()


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """Run a throwaway Redis until the block exits; yields its URL."""
    port = free_port()
    command = [
        _binary(),
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
        _wait_until_answering(url, process, directory / "redis.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


class RedisProcess:
    """A private redis-server a test may kill, freeze and restart; always on the same port.

    Args:
        directory: Where its append-only file and log live (kept across restarts).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (again, after :meth:`kill`) and wait until it answers."""
        command = [
            _binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--dir", str(self.directory),
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until_answering(self.url, self._process, self.directory / "redis.log")

    def kill(self) -> None:
        """``kill -9``: the server is gone at once; its clients' connections are cut."""
        process = self._running()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self._process = None

    def freeze(self) -> None:
        """``SIGSTOP``: connections stay open and nothing answers (a hung or paused server)."""
        os.kill(self._running().pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """``SIGCONT``: the frozen server answers again, starting with what it was sent meanwhile."""
        os.kill(self._running().pid, signal.SIGCONT)

    def restart(self) -> None:
        """Kill the server and start it again on the same port, from its append-only file."""
        if self._process is not None:
            self.kill()
        self.start()

    def stop(self) -> None:
        """Stop the server for good (thawed first, so it can exit)."""
        process = self._process
        if process is None:
            return
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)
        self._process = None

    def _running(self) -> subprocess.Popen[bytes]:
        assert self._process is not None, "the test redis-server is not running"
        return self._process


@contextmanager
def breakable_redis(directory: Path) -> Iterator[RedisProcess]:
    """A started :class:`RedisProcess`, stopped when the block exits."""
    server = RedisProcess(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def flush(url: str) -> None:
    """Empty the test server, so each test starts with no keys."""
    client = redis.Redis.from_url(url)
    try:
        client.flushall()
    finally:
        client.close()
