"""A real Drawbridge on an ephemeral loopback port, served by uvicorn in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette


@contextmanager
def serve_in_thread(app: Starlette, sock: socket.socket, **config_options: Any) -> Iterator[None]:
    """Serve ``app`` on the already-bound ``sock`` until the block exits (``config_options``: e.g. TLS files)."""
    # As `drawbridge serve` runs it: the app, not uvicorn, decides whose X-Forwarded-* headers to believe.
    config = uvicorn.Config(
        app, log_config=None, lifespan="on", server_header=False, proxy_headers=False, **config_options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server failed to start")
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def bind_loopback() -> socket.socket:
    """A listening-ready TCP socket on 127.0.0.1 with a port the OS chose."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock
