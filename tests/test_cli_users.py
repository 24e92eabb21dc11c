"""``drawbridge users``, run as an operator runs it: a real process on a fresh data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PASSWORD = "correct horse battery staple"


def _run(*args: str, input: str | None = None, new_session: bool = False) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRAWBRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "drawbridge", *args],
        capture_output=True,
        text=True,
        env=clean,
        input=input,
        timeout=60,
        check=False,
        start_new_session=new_session,
    )


def _users(tmp_path: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return _run("users", *args, "--dev", "--data-dir", str(tmp_path), input=input)


def _listed(tmp_path: Path) -> dict[str, dict[str, object]]:
    result = _users(tmp_path, "list", "--json")
    assert result.returncode == 0, result.stderr
    return {row["username"]: row for row in map(json.loads, result.stdout.splitlines())}


def _assert_one_line_error(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    # Components may log warnings (e.g. --dev, unencrypted keys) as JSON lines; the error itself is one plain line.
    (error,) = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert error.startswith("drawbridge: ")


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (["users"], ["add", "list", "disable", "enable"]),
        (["users", "add"], ["NAME", "--role", "--group", "--password-stdin", "--data-dir", "--config", "--dev"]),
        (["users", "list"], ["--json", "--data-dir", "--config", "--dev"]),
        (["users", "disable"], ["NAME", "--data-dir", "--config", "--dev"]),
        (["users", "enable"], ["NAME", "--data-dir", "--config", "--dev"]),
    ],
)
def test_help_describes_every_option(command: list[str], options: list[str]) -> None:
    result = _run(*command, "--help")
    assert result.returncode == 0
    for option in options:
        assert option in result.stdout


def test_add_reads_password_from_stdin_and_prints_the_new_id(tmp_path: Path) -> None:
    added = _users(
        tmp_path,
        *("add", "dana", "--role", "admin", "--role", "reader", "--group", "uk", "--password-stdin"),
        input=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr

    dana = _listed(tmp_path)["dana"]
    expected = {"id": added.stdout.strip(), "username": "dana", "roles": ["admin", "reader"], "groups": ["uk"]}
    assert dana == {**expected, "disabled": False}


def test_add_prompts_twice_for_a_hidden_password_without_password_stdin(tmp_path: Path) -> None:
    # A new session has no controlling terminal, so the hidden prompt falls back to reading stdin.
    added = _run(
        "users",
        "add",
        "dana",
        "--dev",
        "--data-dir",
        str(tmp_path),
        input=f"{PASSWORD}\n{PASSWORD}\n",
        new_session=True,
    )
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    assert _listed(tmp_path)["dana"]["roles"] == []


def test_disable_then_enable_shows_in_list(tmp_path: Path) -> None:
    assert _users(tmp_path, "add", "dana", "--password-stdin", input=PASSWORD).returncode == 0

    disabled = _users(tmp_path, "disable", "dana")
    assert disabled.returncode == 0, disabled.stderr
    assert _listed(tmp_path)["dana"]["disabled"] is True

    enabled = _users(tmp_path, "enable", "dana")
    assert enabled.returncode == 0, enabled.stderr
    assert _listed(tmp_path)["dana"]["disabled"] is False


def test_list_prints_a_table_by_default(tmp_path: Path) -> None:
    added = _users(tmp_path, "add", "dana", "--role", "auditor", "--password-stdin", input=PASSWORD)
    assert added.returncode == 0, added.stderr
    listed = _users(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    for cell in ("username", "dana", "auditor", added.stdout.strip()):
        assert cell in listed.stdout


def test_duplicate_add_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    first = _users(tmp_path, "add", "dana", "--role", "reader", "--password-stdin", input=PASSWORD)
    assert first.returncode == 0, first.stderr

    _assert_one_line_error(_users(tmp_path, "add", "dana", "--role", "admin", "--password-stdin", input=PASSWORD))
    assert _listed(tmp_path)["dana"]["roles"] == ["reader"]


@pytest.mark.parametrize(
    ("args", "password"),
    [
        (["add", "da/na", "--password-stdin"], PASSWORD),
        (["add", "dana", "--role", "Admin", "--password-stdin"], PASSWORD),
        (["add", "dana", "--password-stdin"], "short\n"),
        (["add", "dana", "--password-stdin"], ""),
    ],
)
def test_refused_add_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, args: list[str], password: str) -> None:
    before = _listed(tmp_path)  # --dev may have seeded demo users; nothing else may appear
    _assert_one_line_error(_users(tmp_path, *args, input=password))
    assert _listed(tmp_path) == before


@pytest.mark.parametrize("command", ["disable", "enable"])
def test_unknown_user_exits_2_with_one_line(tmp_path: Path, command: str) -> None:
    _assert_one_line_error(_users(tmp_path, command, "nobody"))
