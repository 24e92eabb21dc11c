"""Start a benchmark server in its own process, wait until it serves, watch its memory and CPU, stop it.

Processes are only ever stopped by the pid this module started (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
START_TIMEOUT = 90.0  # seconds; Drawbridge migrates a fresh SQLite database and seeds the demo on start


class ServerFailed(RuntimeError):
    """The server exited or did not become ready."""


@dataclass
class ServerProcess:
    """A running server: its ready file (url, pid, tokens), process handle and log."""

    kind: str
    mode: str
    popen: subprocess.Popen[bytes]
    ready_file: Path
    log_path: Path
    ready: dict[str, Any] = field(default_factory=dict)

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.popen.pid)

    def rss(self) -> int:
        """Resident set size in bytes."""
        return int(self.process.memory_info().rss)

    def cpu_seconds(self) -> float:
        """User plus system CPU time used so far, all threads."""
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def main_thread_cpu_seconds(self) -> float:
        """CPU time of the event loop's thread (the process's first thread) so far."""
        main = next(t for t in self.process.threads() if t.id == self.popen.pid)
        return float(main.user_time + main.system_time)


@contextmanager
def running(
    kind: str, mode: str, *, tokens: int, log_path: Path, variant: str = "full", tool: str = "db"
) -> Iterator[ServerProcess]:
    """Run ``bench/servers.py kind mode`` until the block ends; its stderr goes to ``log_path``."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as work:
        ready_file = Path(work) / "ready.json"
        command = [sys.executable, str(BENCH / "servers.py"), kind, mode, "--ready", str(ready_file)]
        command += ["--tokens", str(tokens), "--data-dir", str(Path(work) / "data"), "--tool", tool]
        if variant != "full":
            command += ["--variant", variant]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            popen = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 -- our own script
            server = ServerProcess(kind, mode, popen, ready_file, log_path)
            try:
                server.ready = _wait_ready(server)
                yield server
            finally:
                stop(popen)


def _wait_ready(server: ServerProcess) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.ready_file.exists():
            ready: dict[str, Any] = json.loads(server.ready_file.read_text())
            if ready["pid"] != server.popen.pid:
                raise ServerFailed(f"{server.kind}: the ready file names another process")
            return ready
        if server.popen.poll() is not None:
            raise ServerFailed(f"{server.kind} exited with {server.popen.returncode}; see {server.log_path}")
        time.sleep(0.1)
    raise ServerFailed(f"{server.kind} not ready after {START_TIMEOUT:.0f} s; see {server.log_path}")


def stop(popen: subprocess.Popen[Any], grace: float = 15.0) -> int:
    """Stop the process we started (by its pid only): SIGTERM, then SIGKILL after ``grace`` seconds."""
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(grace)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
    return popen.returncode


class PeakRss:
    """Samples a process's RSS every ``interval`` seconds in a thread while the block runs; ``peak`` in bytes."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.peak = 0

    def __enter__(self) -> PeakRss:
        self.peak = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.peak = max(self.peak, self._process.memory_info().rss)
            except psutil.NoSuchProcess:
                return


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent not idle since boot."""
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system + times.irq + times.softirq + times.steal)


def log_problems(log_path: Path, limit: int = 5) -> tuple[int, list[str]]:
    """How many lines of a server log report an error or a traceback, and the first few of them."""
    markers = ('"level": "error"', '"level": "critical"', "Traceback", " ERROR ", "ERROR:", "Exception in ")
    found = [
        line.strip()[:300]
        for line in log_path.read_text(errors="replace").splitlines()
        if any(marker in line for marker in markers)
    ]
    return len(found), found[:limit]
