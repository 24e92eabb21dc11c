"""The ``drawbridge`` command, run as a user runs it: a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.live_server import bind_loopback


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRAWBRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "drawbridge", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ([], ["serve", "config", "keys"]),
        (["serve"], ["--host", "--port", "--data-dir", "--config", "--dev", "--ssl-certfile", "--ssl-keyfile"]),
        (["config", "show"], ["--data-dir", "--config"]),
        (["keys", "rotate"], ["--data-dir", "--config"]),
        (["keys", "list"], ["--data-dir", "--config"]),
    ],
)
def test_help_describes_every_option(command: list[str], options: list[str]) -> None:
    result = _run(*command, "--help")
    assert result.returncode == 0
    for option in options:
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["config", "show", "--config", "/nonexistent/drawbridge.toml"], {}),
        (["config", "show", "--dev"], {"DRAWBRIDGE_SERVER__PORT": "not-a-port"}),
        (["config", "show", "--dev"], {"DRAWBRIDGE_SERVER__NOPE": "1"}),
        (["config", "show"], {}),  # plain http without --dev
        (["serve", "--dev", "--port", "99999"], {}),
    ],
)
def test_bad_config_exits_2_with_one_line_and_no_traceback(args: list[str], env: dict[str, str]) -> None:
    result = _run(*args, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("drawbridge: ")


def test_unknown_key_in_config_file_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "drawbridge.toml"
    config.write_text("[server]\ndev = true\nmax_body = 5\n")
    result = _run("config", "show", "--config", str(config))
    assert result.returncode == 2
    assert "server.max_body" in result.stderr


def test_config_show_prints_effective_config_with_secrets_redacted(tmp_path: Path) -> None:
    result = _run(
        "config",
        "show",
        "--dev",
        "--data-dir",
        str(tmp_path),
        env={"DRAWBRIDGE_KEYS__ENCRYPTION_KEY": "super-secret-passphrase"},
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["data_dir"] == str(tmp_path)
    assert shown["keys"]["encryption_key"] == "**********"
    assert "super-secret-passphrase" not in result.stdout


def test_keys_rotate_then_list_shows_old_key_published_but_not_signing(tmp_path: Path) -> None:
    common = ["--dev", "--data-dir", str(tmp_path)]
    env = {"DRAWBRIDGE_KEYS__ENCRYPTION_KEY": "p4ss"}
    rotated = _run("keys", "rotate", *common, env=env)
    assert rotated.returncode == 0, rotated.stderr
    listed = _run("keys", "list", *common, env=env)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == 2
    assert [row["signing"] for row in rows] == [True, False]
    assert all(row["published"] for row in rows)
    assert rotated.stdout.strip().endswith(rows[0]["kid"])


def test_keys_list_with_wrong_passphrase_exits_2(tmp_path: Path) -> None:
    common = ["--dev", "--data-dir", str(tmp_path)]
    assert _run("keys", "list", *common, env={"DRAWBRIDGE_KEYS__ENCRYPTION_KEY": "one"}).returncode == 0
    result = _run("keys", "list", *common, env={"DRAWBRIDGE_KEYS__ENCRYPTION_KEY": "two"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_serve_starts_and_answers_health_then_stops_gracefully(tmp_path: Path) -> None:
    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRAWBRIDGE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "drawbridge", "serve", "--dev", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean,
    )
    try:
        response = _wait_for(f"http://127.0.0.1:{port}/healthz")
        assert response.status_code == 200
        assert (tmp_path / "drawbridge.db").exists()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    # uvicorn re-raises the captured SIGTERM after its graceful shutdown, so the status is -SIGTERM.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in stderr
    assert "dev_mode_enabled" in stderr
    assert f"http://127.0.0.1:{port}" in stderr
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(event["event"] == "drawbridge_started" for event in events)


def _wait_for(url: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
