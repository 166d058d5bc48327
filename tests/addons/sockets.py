"""Listening TCP sockets of a process, read from /proc (Linux): which address each is bound to."""

from __future__ import annotations

import ipaddress
from pathlib import Path
import socket

_LISTEN = "0A"


def _address(hex_address: str) -> str:
    """`0100007F` -> 127.0.0.1; IPv6 is four little-endian 32-bit words."""
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


def listening_sockets(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket the process holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTEN and inode in inodes:
                host, port = local.split(":")
                found.add((_address(host), int(port, 16)))
    return found


def port_open(host: str, port: int) -> bool:
    """True if something accepts a TCP connection there."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0
