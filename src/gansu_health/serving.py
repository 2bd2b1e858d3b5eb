"""Several uvicorn workers, each accepting on a listening socket of its own.

uvicorn's own supervisor hands every worker the same listening socket, and whichever worker
wakes first accepts: when a reverse proxy (or the rush benchmark) opens its keep-alive
connections at once, one worker may take two thirds of them and become the bottleneck while the
other idles (measured: 123 / 77 of 200 connections). Here each worker listens on its own socket,
all bound to the same port with ``SO_REUSEPORT``, so the kernel spreads connections evenly by
their addresses. The parent keeps every socket open: connections that reach a worker that
died wait in its socket's queue until its replacement starts.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from multiprocessing.context import SpawnProcess

import uvicorn
from uvicorn._subprocess import get_subprocess
from uvicorn.config import STARTUP_FAILURE

BACKLOG = 2048  # as uvicorn's
STOP_S = 30.0  # how long stopping waits for a worker to finish its requests
log = logging.getLogger(__name__)


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) that other sockets may share (``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)  # now: connections queue here even while its worker is starting
    sock.set_inheritable(True)
    return sock


def _start(config: uvicorn.Config, sock: socket.socket) -> SpawnProcess:
    process = get_subprocess(config, uvicorn.Server(config).run, [sock])
    process.start()
    return process


def run_workers(config: uvicorn.Config, workers: int) -> None:
    """Serve with ``workers`` processes until SIGINT or SIGTERM; start a new worker for one
    that dies (unless it failed while starting, which would fail again)."""
    sockets = [listening_socket(config.host, config.port) for _ in range(workers)]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    processes = [_start(config, sock) for sock in sockets]
    try:
        while not stop.wait(0.5):
            for i, process in enumerate(processes):
                if process.is_alive() or stop.is_set():  # (stopping: workers end too)
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    log.error("worker %s could not start; stopping", process.pid)
                    stop.set()
                    break
                log.warning("worker %s ended (exit code %s); starting another", process.pid,
                            process.exitcode)
                processes[i] = _start(config, sockets[i])
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(STOP_S)
        for sock in sockets:
            sock.close()
