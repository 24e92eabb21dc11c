"""``drawbridge audit``, run as an operator runs it: a real process on the test's database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.audit import AuditStore
from drawbridge.identity import UserDirectory
from drawbridge.settings import Settings
from drawbridge.storage.sql import SqlUserRepository
from drawbridge.testing import FrozenClock
from tests.audit.factory import edit_row, tool_call

DAY = 86400.0


async def _audit(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAWBRIDGE_")}
    env["DRAWBRIDGE_STORAGE__DATABASE_URL"] = settings.database_url
    if settings.storage.schema_name:
        env["DRAWBRIDGE_STORAGE__SCHEMA_NAME"] = settings.storage.schema_name
    env["COLUMNS"] = "200"  # rich wraps tables to the terminal's width
    command = [sys.executable, "-m", "drawbridge", "audit", *args, "--dev", "--data-dir", str(settings.data_dir)]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.fixture
async def seeded(store: AuditStore, engine: AsyncEngine) -> AuditStore:
    """Events at real times (the CLI reads the system clock): dana (known only by id) 3 days ago, erin today."""
    directory = UserDirectory(
        SqlUserRepository(engine), FrozenClock(), hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    dana = await directory.add_user("dana", "correct horse battery", [])
    now = FrozenClock(time.time())
    await store.append(
        [
            tool_call(now, 1, occurred_at=now.current - 3 * DAY, user_id=dana.id, username=None),
            tool_call(now, 2, occurred_at=now.current - 3 * DAY + 1, user_id=dana.id, username=None, target="refund"),
            tool_call(now, 3, user_id="u-erin", username="erin", client_id="other-client"),
        ]
    )
    return store


def _json_lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ([], ["verify", "tail", "search", "purge"]),
        (["search"], ["--user", "--client", "--tool", "--kind", "--since", "--until", "--limit", "--json", "--stream"]),
    ],
)
def test_help_describes_every_option(command: list[str], options: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "drawbridge", "audit", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0
    for option in options:
        assert option in result.stdout


async def test_verify_exits_0_and_prints_the_head_hash(seeded: AuditStore, settings: Settings) -> None:
    head = (await seeded.tail(1))[0]

    result = await _audit(settings, "verify")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: stream main: 3 rows")
    assert head.hash in result.stdout


async def test_verify_exits_1_and_names_the_edited_row(
    seeded: AuditStore, settings: Settings, engine: AsyncEngine
) -> None:
    await edit_row(engine, 2, target="lookup_order")

    result = await _audit(settings, "verify")

    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("broken: stream main seq 2: hash_mismatch")


async def test_tail_prints_the_newest_as_json_lines_or_a_table(seeded: AuditStore, settings: Settings) -> None:
    rows = _json_lines(await _audit(settings, "tail", "-n", "2", "--json"))
    assert [row["seq"] for row in rows] == [2, 3]
    assert rows == [record.as_dict() for record in await seeded.tail(2)]

    table = await _audit(settings, "tail")
    assert table.returncode == 0, table.stderr
    assert "main:3" in table.stdout
    assert "erin" in table.stdout
    assert "mcp.tools_call" in table.stdout


async def test_search_filters_by_username_client_tool_and_time(seeded: AuditStore, settings: Settings) -> None:
    async def seqs(*args: str) -> list[object]:
        return [row["seq"] for row in _json_lines(await _audit(settings, "search", *args, "--json"))]

    by_name, by_client_since, by_tool_until = await asyncio.gather(
        seqs("--user", "dana"),  # the events carry only dana's id: found through the directory
        seqs("--client", "other-client", "--since", "1d"),
        seqs("--tool", "refund", "--until", "2d"),
    )
    assert by_name == [1, 2]
    assert by_client_since == [3]
    assert by_tool_until == [2]


async def test_search_with_an_unreadable_time_exits_2(settings: Settings) -> None:
    result = await _audit(settings, "search", "--since", "last tuesday")

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith("drawbridge: invalid --since")


async def test_purge_deletes_old_events_and_verify_still_passes(seeded: AuditStore, settings: Settings) -> None:
    purged = await _audit(settings, "purge", "--older-than-days", "1")

    assert purged.returncode == 0, purged.stderr
    assert purged.stdout.startswith("purged 2 rows of stream main up to seq 2")
    assert [r.seq for r in await seeded.tail(10)] == [3]
    assert (await _audit(settings, "verify")).returncode == 0


async def test_purge_of_a_broken_chain_exits_1_and_deletes_nothing(
    seeded: AuditStore, settings: Settings, engine: AsyncEngine
) -> None:
    await edit_row(engine, 1, decision="deny")

    result = await _audit(settings, "purge", "--older-than-days", "1")

    assert result.returncode == 1
    assert result.stdout.startswith("broken: stream main seq 1: hash_mismatch")
    assert [r.seq for r in await seeded.tail(10)] == [1, 2, 3]
