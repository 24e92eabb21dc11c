"""Turn one run's measurements into the printed table, the targets' verdicts, JSON and a PNG chart.

``python bench/report.py bench/results/<timestamp>.json`` prints a stored run's report again and redraws its chart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REFERENCE = "sdk"
TARGET_THROUGHPUT = 0.9  # issue 8: full-security calls/s at least 0.9x the bare SDK's in the same run
TARGET_P99 = 1.5  # and p99 within 1.5x of it
TARGET_SESSIONS = 500  # with zero failed calls at 500 concurrent sessions
COLOURS = {"sdk": "#7f7f7f", "drawbridge": "#1f77b4", "fastmcp": "#ff7f0e"}


def say(text: str) -> None:
    """Write a line of the report to stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def progress_line(row: dict[str, Any], seconds: float) -> str:
    return (
        f"{row['mode']:>9} {row['sessions']:>4} sessions {row['server']:>10}: "
        f"{_num(row.get('calls_per_s'), '.0f')} calls/s, p50 {_num(row.get('p50_ms'), '.1f')} ms, "
        f"p99 {_num(row.get('p99_ms'), '.1f')} ms, failures {row.get('failures')}, "
        f"RSS +{_num(row.get('rss_per_session_kib'), '.0f')} KiB/session, "
        f"other processes {_num(row.get('other_cpu_s'), '.1f')} CPU s ({seconds:.0f} s)"
    )


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "-"
    return f"{value / reference:.2f}x"


def _reference(rows: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    for other in rows:
        if (other["server"], other["mode"], other["sessions"]) == (REFERENCE, row["mode"], row["sessions"]):
            return other
    return {}


def http_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per (mode, sessions, server), with ratios to the bare SDK in the same mode and load."""
    lines = [
        "| mode | sessions | server | calls/s | x sdk | p50 ms | x sdk | p99 ms | x sdk | failures | RSS/session KiB "
        "| x sdk | server log errors | other CPU s |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        ref = _reference(rows, row)
        lines.append(
            f"| {row['mode']} | {row['sessions']} | {row['server']} "
            f"| {_num(row.get('calls_per_s'), '.0f')} | {_ratio(row.get('calls_per_s'), ref.get('calls_per_s'))} "
            f"| {_num(row.get('p50_ms'), '.1f')} | {_ratio(row.get('p50_ms'), ref.get('p50_ms'))} "
            f"| {_num(row.get('p99_ms'), '.1f')} | {_ratio(row.get('p99_ms'), ref.get('p99_ms'))} "
            f"| {row.get('failures')} "
            f"| {_num(row.get('rss_per_session_kib'), '.0f')} "
            f"| {_ratio(row.get('rss_per_session_kib'), ref.get('rss_per_session_kib'))} "
            f"| {row.get('server_log_problems', '-')} | {_num(row.get('other_cpu_s'), '.1f')} |"
        )
    return "\n".join(lines)


def stdio_table(stdio: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    """Markdown: one stdio process shared by N callers, beside Drawbridge over HTTP at the same concurrency."""
    lines = [
        "| transport | server | callers | calls/s | p50 ms | p99 ms | failures | RSS MiB | note |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for item in stdio:
        lines.append(
            f"| stdio, 1 shared process | {item['server']} | {item['callers']} "
            f"| {_num(item.get('calls_per_s'), '.0f')} "
            f"| {_num(item.get('p50_ms'), '.1f')} | {_num(item.get('p99_ms'), '.1f')} | {item.get('failures')} "
            f"| {_num(item.get('rss_peak_mib'), '.0f')} | cold start {_num(item.get('cold_start_ms'), '.0f')} ms; "
            "every caller is the one [stdio] identity |"
        )
    callers = {item["callers"] for item in stdio}
    for row in rows:
        if row["server"] == "drawbridge" and row["sessions"] in callers:
            lines.append(
                f"| HTTP {row['mode']} | drawbridge | {row['sessions']} | {_num(row.get('calls_per_s'), '.0f')} "
                f"| {_num(row.get('p50_ms'), '.1f')} | {_num(row.get('p99_ms'), '.1f')} | {row.get('failures')} "
                f"| {_num(row.get('rss_peak_mib'), '.0f')} | one token, policy decision and audit row per caller |"
            )
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 8's targets for Drawbridge, per mode and concurrency: met or not, with the measured ratio."""
    verdicts = []
    for row in rows:
        if row["server"] != "drawbridge":
            continue
        ref = _reference(rows, row)
        throughput = _div(row.get("calls_per_s"), ref.get("calls_per_s"))
        p99 = _div(row.get("p99_ms"), ref.get("p99_ms"))
        verdicts.append(
            {
                "mode": row["mode"],
                "sessions": row["sessions"],
                "throughput_ratio": throughput,
                "throughput_met": throughput is not None and throughput >= TARGET_THROUGHPUT,
                "p99_ratio": p99,
                "p99_met": p99 is not None and p99 <= TARGET_P99,
                "failures": row.get("failures"),
                "zero_failures_met": row["sessions"] != TARGET_SESSIONS or row.get("failures") == 0,
            }
        )
    return verdicts


def _div(value: float | None, reference: float | None) -> float | None:
    return None if value is None or not reference else value / reference


def targets_table(verdicts: list[dict[str, Any]]) -> str:
    lines = [
        f"| mode | sessions | calls/s ÷ sdk (≥ {TARGET_THROUGHPUT}) | p99 ÷ sdk (≤ {TARGET_P99}) | failures "
        f"(0 at {TARGET_SESSIONS}) |",
        "| --- | ---: | --- | --- | --- |",
    ]
    for v in verdicts:
        zero = "" if v["sessions"] != TARGET_SESSIONS else (" met" if v["zero_failures_met"] else " NOT met")
        lines.append(
            f"| {v['mode']} | {v['sessions']} "
            f"| {_num(v['throughput_ratio'], '.2f')} {'met' if v['throughput_met'] else 'NOT met'} "
            f"| {_num(v['p99_ratio'], '.2f')} {'met' if v['p99_met'] else 'NOT met'} "
            f"| {v['failures']}{zero} |"
        )
    return "\n".join(lines)


def render(result: dict[str, Any]) -> str:
    """The whole printed report."""
    meta = result["meta"]
    parts = [
        f"\nDrawbridge benchmark {meta['started_utc']} (git {meta['git']}), {meta['cpus']} CPUs ({meta['cpu_model']}), "
        f"{meta['duration_s']:.0f} s per measurement, load generator client: {meta['client']}",
        "\nHTTP (ratios are to the bare SDK server in the same mode and concurrency)\n",
        http_table(result["http"]),
    ]
    if result.get("stdio"):
        parts += ["\nstdio: one process shared by concurrent callers, beside Drawbridge over HTTP\n"]
        parts.append(stdio_table(result["stdio"], result["http"]))
    parts += ["\nIssue 8 targets (Drawbridge vs bare SDK)\n", targets_table(targets(result["http"]))]
    if result.get("profile"):
        parts += ["\nProfile of Drawbridge under load\n", result["profile"]["table"]]
    return "\n".join(parts)


def write(result: dict[str, Any], out: Path, stamp: str) -> tuple[Path, Path]:
    """Write ``<stamp>.json`` and ``<stamp>.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    result["targets"] = targets(result["http"])
    json_path, png_path = out / f"{stamp}.json", out / f"{stamp}.png"
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    chart(result, png_path)
    return json_path, png_path


def chart(result: dict[str, Any], path: Path) -> None:
    """Calls/s, p99 and peak RSS by concurrency, one row per mode, one bar per server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["http"]
    modes = sorted({r["mode"] for r in rows})
    metrics = (("calls_per_s", "calls/s", False), ("p99_ms", "p99 latency, ms (log)", True))
    metrics += (("rss_peak_mib", "server peak RSS, MiB", False),)
    fig, axes = plt.subplots(len(modes), len(metrics), figsize=(5 * len(metrics), 3.6 * len(modes)), squeeze=False)
    for i, mode in enumerate(modes):
        for j, (key, label, log) in enumerate(metrics):
            _bars(axes[i][j], [r for r in rows if r["mode"] == mode], key, log)
            axes[i][j].set_title(f"{mode}: {label}", fontsize=10)
    axes[0][0].legend(fontsize=8)
    meta = result["meta"]
    fig.suptitle(f"Drawbridge benchmark {meta['started_utc']} — {meta['cpus']} shared CPUs, loopback", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bars(ax: Any, rows: list[dict[str, Any]], key: str, log: bool) -> None:
    levels = sorted({r["sessions"] for r in rows})
    servers = [s for s in COLOURS if any(r["server"] == s for r in rows)]
    width = 0.8 / max(len(servers), 1)
    for k, server in enumerate(servers):
        values = {r["sessions"]: r.get(key) for r in rows if r["server"] == server}
        xs = [n + (k - (len(servers) - 1) / 2) * width for n in range(len(levels))]
        ax.bar(xs, [values.get(level) or 0 for level in levels], width, label=server, color=COLOURS[server])
    ax.set_xticks(range(len(levels)), [str(level) for level in levels])
    ax.set_xlabel("concurrent sessions", fontsize=9)
    if log:
        ax.set_yscale("log")


def main() -> None:
    path = Path(sys.argv[1])
    result = json.loads(path.read_text())
    chart(result, path.with_suffix(".png"))
    say(render(result))


if __name__ == "__main__":
    main()
