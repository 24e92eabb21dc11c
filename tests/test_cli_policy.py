"""``drawbridge policy check`` and ``validate``, run as an operator runs them: a real process on a fresh data dir.

``--dev`` creates the demo users (alice: support; bob: support and refunds; thomas: customer 3), so the demo's
policies can be asked about without creating anyone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from drawbridge.demo.tools import POLICIES

VERIFIED = "https://client.example/agent.json"


def _policy(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRAWBRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "drawbridge", "policy", *args, "--dev", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=60,
        check=False,
    )


def _error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    return "\n".join(line for line in result.stderr.splitlines() if not line.startswith("{"))


def test_check_explains_an_allowed_refund_with_the_permitting_policy_and_its_file(tmp_path: Path) -> None:
    args = '{"order_id": 2, "reason": "damaged"}'
    result = _policy(
        tmp_path, "check", "--user", "bob", "--client", VERIFIED, "--tool", "request_refund", "--args", args
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Allowed: User 'bob' (roles: refunds, support) using verified client")
    assert f"'refunds-up-to-limit' ({POLICIES / 'refunds.cedar'}:7)" in result.stdout
    assert "order_total_pence=8498" in result.stdout  # what the tool's target loader told the policy
    assert "sees in clear: email" in result.stdout


@pytest.mark.parametrize(
    ("user", "client", "target", "expected"),
    [
        # above the policy's £250 limit: no permit matches
        ("bob", VERIFIED, ["--tool", "request_refund", "--args", '{"order_id": 6, "reason": "damaged"}'],
         "Denied by default: User 'bob'"),
        # a self-registered client: the forbid names itself, with file and line
        ("bob", "0f3c9a", ["--tool", "request_refund", "--args", '{"order_id": 2, "reason": "damaged"}'],
         "forbidden by 'unverified-clients-read-only'"),
        # thomas reading another customer's order
        ("thomas", VERIFIED, ["--resource", "orders://2"], "Denied by default: User 'thomas'"),
        ("alice", VERIFIED, ["--tool", "request_refund", "--args", '{"order_id": 2, "reason": "damaged"}'],
         "Denied by default: User 'alice'"),
    ],
)  # fmt: skip
def test_check_explains_denials_and_exits_1(
    tmp_path: Path, user: str, client: str, target: list[str], expected: str
) -> None:
    result = _policy(tmp_path, "check", "--user", user, "--client", client, *target)

    assert result.returncode == 1, result.stderr
    assert expected in result.stdout


def test_check_of_an_own_order_resource_is_allowed(tmp_path: Path) -> None:
    result = _policy(tmp_path, "check", "--user", "thomas", "--client", VERIFIED, "--resource", "orders://27")

    assert result.returncode == 0, result.stderr
    assert "permitted by 'customers-read-own-orders'" in result.stdout
    assert "owner='thomas'" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody", "--client", VERIFIED, "--tool", "check_order_status"], "no user named 'nobody'"),
        (["--user", "bob", "--client", VERIFIED, "--tool", "run_sql"], "no tool named 'run_sql'"),
        (["--user", "bob", "--client", VERIFIED, "--resource", "files://etc/passwd"], "no resource template matches"),
        (["--user", "bob", "--client", VERIFIED], "give exactly one of --tool and --resource"),
        (["--user", "bob", "--client", VERIFIED, "--tool", "check_order_status", "--args", "{"], "not valid JSON"),
        (
            ["--user", "bob", "--client", VERIFIED, "--tool", "check_order_status", "--args", '{"order_id": "2"}'],
            "the guard would refuse these arguments before the policy: order_id",
        ),
    ],
)
def test_check_refuses_bad_questions_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = _policy(tmp_path, "check", *args)

    assert result.returncode == 2
    assert message in _error(result)
    assert result.stdout == ""


def test_validate_accepts_the_demo_policies(tmp_path: Path) -> None:
    result = _policy(tmp_path, "validate")

    assert result.returncode == 0, result.stderr
    assert f"ok: the policies in {POLICIES} are valid" in result.stdout


def test_validate_reports_each_problem_with_file_and_line(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "bad.cedar").write_text(
        '// a typo in a tool name\n@id("typo")\npermit (principal, action == Action::"call_tool", '
        'resource == Tool::"request_refnud");\n'
    )

    result = _policy(tmp_path, "validate", env={"DRAWBRIDGE_POLICY__DIRECTORY": str(policies)})

    assert result.returncode == 2
    error = _error(result)
    assert f"{policies / 'bad.cedar'}:2: unknown_tool: no tool named request_refnud" in error
