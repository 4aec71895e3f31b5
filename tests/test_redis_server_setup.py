"""Without redis-server only the Redis-backed tests are skipped, with one line; in CI they fail."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import redis_server

ROOT = Path(__file__).resolve().parent.parent


def _without_redis_server(monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "redis-server" else real(name))


def test_a_missing_redis_server_skips_its_tests_outside_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_redis_server(monkeypatch)
    monkeypatch.delenv("CI", raising=False)
    with (
        pytest.raises(
            pytest.skip.Exception, match="redis-server is not installed; install it with: sudo apt-get"
        ),
        redis_server.redis_server(tmp_path),
    ):
        pass


def test_a_missing_redis_server_fails_its_tests_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_redis_server(monkeypatch)
    monkeypatch.setenv("CI", "1")
    with (
        pytest.raises(pytest.fail.Exception, match=r"CI runs the Redis-backed tests"),
        redis_server.redis_server(tmp_path),
    ):
        pass


def _make_redis_server(tmp_path: Path, *, ci: bool) -> subprocess.CompletedProcess[str]:
    """``make redis-server`` where neither redis-server nor apt-get (nor sudo) can be found."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("id",):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    env = {key: value for key, value in os.environ.items() if key != "CI"} | {"PATH": str(bin_dir)}
    if ci:
        env["CI"] = "1"
    make = shutil.which("make")
    assert make is not None
    return subprocess.run(
        [make, "--no-print-directory", "-C", str(ROOT), "redis-server"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_goes_on_without_redis_server_outside_ci_with_one_line(tmp_path: Path) -> None:
    done = _make_redis_server(tmp_path, ci=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "redis-server could not be installed: the Redis-backed tests will be skipped"
    ]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_stops_without_redis_server_in_ci(tmp_path: Path) -> None:
    done = _make_redis_server(tmp_path, ci=True)
    assert done.returncode != 0
    assert "CI runs the Redis store's tests, so install redis-server" in done.stderr
