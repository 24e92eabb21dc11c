"""The remote ends of this process's established TCP connections, read from ``/proc`` (Linux).

The test servers run in this process's threads on uvloop, whose connects no Python audit hook sees; the kernel's
socket table does. A pool (Redis, PostgreSQL) keeps its connections open while the server runs, so a look while
the server is up shows where it connected.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

_ESTABLISHED = "01"
Peer = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]


def tcp_peers() -> set[Peer]:
    """``(address, port)`` of every established TCP connection this process holds (IPv4-mapped shown as IPv4)."""
    inodes = {_socket_inode(fd) for fd in os.listdir("/proc/self/fd")} - {None}
    peers: set[Peer] = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if state == _ESTABLISHED and inode in inodes:
                peers.add(_peer(remote))
    return peers


def _socket_inode(fd: str) -> str | None:
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # closed between listdir and readlink
        return None
    return target[len("socket:[") : -1] if target.startswith("socket:[") else None


def _peer(hex_address: str) -> Peer:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word in host byte order.
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address, int(port, 16)
