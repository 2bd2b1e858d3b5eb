"""``gansu-health serve --workers 2``: connections spread over both workers; a dead worker is
replaced on its socket; SIGTERM stops everything."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gansu_health.core.migrate import upgrade
from gansu_health.devtools.pgcluster import free_port

CONNECTIONS = 64
WAIT_S = 60.0


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == parent:
                found.append(int(entry))
    return found


def _accepted_on(pid: int, port: int) -> int:
    """How many connections to ``port`` the process holds open (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with_target = os.readlink(fd) if fd.is_symlink() else ""
        if with_target.startswith("socket:["):
            inodes.add(with_target[8:-1])
    count = 0
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if int(local.split(":")[1], 16) == port and state == "01" and inode in inodes:
            count += 1
    return count


def _workers(parent: int) -> list[int]:
    return sorted(pid for pid in _children(parent)
                  if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"))


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    upgrade(url)
    port = free_port()
    env = {"GANSU_HEALTH_DATABASE_URL": url, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    proc = subprocess.Popen([sys.executable, "-m", "gansu_health.cli", "serve", "--port",
                             str(port), "--workers", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _until(lambda: _healthy(port) and len(_workers(proc.pid)) == 2, "the server started")
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_two_workers_share_the_connections_and_a_dead_one_is_replaced(
        server: tuple[subprocess.Popen[bytes], int]) -> None:
    proc, port = server
    workers = _workers(proc.pid)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
    try:
        _until(lambda: sum(_accepted_on(pid, port) for pid in workers) == CONNECTIONS,
               "every connection accepted")
        shares = [_accepted_on(pid, port) for pid in workers]
        assert min(shares) >= CONNECTIONS // 4, shares  # one shared socket gave ~2:1 or worse
    finally:
        for client in clients:
            client.close()
    os.kill(workers[0], signal.SIGKILL)
    _until(lambda: len(_workers(proc.pid)) == 2, "a new worker started")
    now = _workers(proc.pid)
    assert workers[0] not in now and workers[1] in now
    # connections that land on the dead worker's socket are served by its replacement
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as http:
        answers = [http.get(f"http://127.0.0.1:{port}/healthz", timeout=WAIT_S).status_code
                   for _ in range(24)]
    assert answers == [200] * 24
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(WAIT_S) == 0
    assert not [pid for pid in now if Path(f"/proc/{pid}").exists()]  # workers stopped too
