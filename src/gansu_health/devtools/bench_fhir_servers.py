"""Processes of the FHIR benchmark: our server (SQLite or PostgreSQL) and the sekmet-fhir peer."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gansu_health.devtools.bench_fhir_data import REPO_ROOT
from gansu_health.devtools.pgcluster import free_port

PEER_PACKAGE = "sekmet-fhir"
PEER_VENV = REPO_ROOT / "bench" / ".peer-venv"


def machine_info() -> dict[str, Any]:
    """Return CPU model, cores, RAM, Python and OS of this machine."""
    cpu = platform.processor() or "unknown"
    ram_gib = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gib = int(line.split()[1]) / 1024**2
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(ram_gib, 1),
            "python": platform.python_version(), "os": platform.platform()}


@dataclass
class ServerProcess:
    """A FHIR server we started: its base URL, process and log file."""

    name: str
    base_url: str
    proc: subprocess.Popen[bytes]
    log: Path
    notes: list[str] = field(default_factory=list)
    maintenance: list[str] = field(default_factory=list)  # command run after each bulk load
    env: dict[str, str] = field(default_factory=dict)

    def after_load(self) -> None:
        """Refresh planner statistics after a bulk load, as an operator would."""
        if self.maintenance:
            subprocess.run(self.maintenance, env=self.env, check=True, capture_output=True)

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until GET [base]/metadata answers 200; raise with the log tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n"
                                   f"{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/metadata", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer /metadata in {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """Return the last lines of the server log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_errors(self) -> list[str]:
        """Return log lines that report errors or tracebacks (at most 40)."""
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return []
        keys = ("Traceback", "ERROR", "Error:", "Exception")
        return [line for line in text if any(k in line for k in keys)][:40]

    def stop(self) -> None:
        """Terminate the process (kill it after 15 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("GANSU_HEALTH_", "SEKMET_"))}


def start_ours(name: str, database_url: str, workdir: Path) -> ServerProcess:
    """Migrate ``database_url`` and start ``gansu-health serve`` on a free loopback port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    env = {**_clean_env(), "GANSU_HEALTH_DATABASE_URL": database_url,
           "GANSU_HEALTH_BASE_URL": base}
    cli = [sys.executable, "-m", "gansu_health.cli"]
    up = subprocess.run([*cli, "db", "upgrade"], env=env, cwd=workdir, capture_output=True,
                        text=True)
    if up.returncode:
        raise RuntimeError(f"gansu-health db upgrade failed:\n{up.stdout}\n{up.stderr}")
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    server = ServerProcess(name, base, proc, log, maintenance=[*cli, "db", "analyze"], env=env)
    server.wait_ready()
    return server


def ensure_peer(console_print: Any = print) -> Path:
    """Return the sekmet executable, creating bench/.peer-venv and installing it when missing."""
    exe = PEER_VENV / "bin" / "sekmet"
    if exe.exists():
        return exe
    console_print(f"installing {PEER_PACKAGE} into {PEER_VENV} …")
    PEER_VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(PEER_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    PEER_PACKAGE], check=True)
    if not exe.exists():
        raise RuntimeError(f"{PEER_PACKAGE} installed but {exe} is missing")
    return exe


def peer_version(exe: Path) -> str:
    """Return ``sekmet --version`` output."""
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    return out.stdout.strip() or out.stderr.strip()


def start_peer(exe: Path, workdir: Path, validation: str = "strict") -> ServerProcess:
    """Start ``sekmet serve`` on loopback with its own SQLite file in ``workdir``."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    root = workdir / "peer"
    root.mkdir(parents=True, exist_ok=True)
    config = root / "settings.yaml"
    # simulator off: it would answer Claims/MedicationRequests with resources of its own;
    # log_inbound off: its traffic log stores every request body (the docs say: off for load)
    config.write_text(
        f"base_url: {base}\nhost: 127.0.0.1\nport: {port}\n"
        f"data_dir: {root / 'data'}\ndb_path: {root / 'sekmet.db'}\n"
        "simulator:\n  enabled: false\nlog_inbound: false\n"
        f"validation:\n  inbound: {validation}\n")
    log = workdir / "peer.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "serve", "-c", str(config)], env=_clean_env(),
                                cwd=root, stdout=out, stderr=subprocess.STDOUT)
    server = ServerProcess("peer", base, proc, log,
                           [f"sekmet serve, SQLite, inbound validation {validation}, "
                            "simulator off, traffic log off"])
    server.wait_ready()
    return server
