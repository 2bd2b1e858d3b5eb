"""Shared fixtures: databases on SQLite and a real PostgreSQL, the app, a live server."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from gansu_health.app import create_app
from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.migrate import upgrade
from gansu_health.core.settings import Settings
from gansu_health.devtools.pgcluster import PostgresCluster, PostgresUnavailable, free_port
from gansu_health.identity.tokens import repository as tokens

REPO = Path(__file__).resolve().parent.parent
BACKENDS = [b.strip() for b in os.environ.get("GANSU_HEALTH_TEST_BACKENDS",
                                              "sqlite,postgresql").split(",") if b.strip()]


def shared_data_dir() -> Path:
    """Return the shared test-data folder (GANSU_HEALTH_SHARED_DATA or ../shared/data)."""
    return Path(os.environ.get("GANSU_HEALTH_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder, or skip when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared test data not found at {path} (set GANSU_HEALTH_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each module copies."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster with a migrated template database."""
    try:
        cluster = PostgresCluster().start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    cluster.create_database("gansu_template")
    upgrade(cluster.url("gansu_template"))
    yield cluster
    cluster.stop()


def _fresh_url(backend: str, request: pytest.FixtureRequest, tmp: Path) -> str:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp / f"{uuid.uuid4().hex}.db"
        shutil.copy(template, target)
        return f"sqlite:///{target}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"t_{uuid.uuid4().hex[:12]}", template="gansu_template")


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh, migrated database for the module, on each backend."""
    return _fresh_url(request.param, request, tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="module")
def settings(db_url: str) -> Settings:
    """Settings pointing at the module's database."""
    return Settings(database_url=db_url, base_url="http://testserver/fhir")


def mint_token(settings: Settings, scope: str = "system/*.cruds", *, kind: str = "operator",
               subject: str = "pytest", patient: str | None = None, ttl_s: int = 86_400) -> str:
    """Issue an access token straight into the token store (as ``gansu-health token`` does)."""
    engine = build_engine(settings.database_url, settings)
    try:
        with write_transaction(engine) as conn:
            issued = tokens.issue(conn, client_id=f"{subject}-client", principal_kind=kind,
                                  subject=subject, scope=scope, node=settings.node_id,
                                  ttl_s=ttl_s, patient=patient)
    finally:
        engine.dispose()
    return issued.access_token


@pytest.fixture(scope="module")
def operator_headers(settings: Settings) -> dict[str, str]:
    """Headers of an operator with every system scope: what FHIR behaviour tests run as."""
    return {"Authorization": f"Bearer {mint_token(settings)}"}


@pytest.fixture(scope="module")
def client(settings: Settings, operator_headers: dict[str, str]) -> Iterator[TestClient]:
    """An in-process HTTP client for the app, signed in as an operator (system/*.cruds)."""
    engine = build_engine(settings.database_url, settings)
    with TestClient(create_app(settings, engine), headers=operator_headers) as test_client:
        yield test_client
    engine.dispose()


T = TypeVar("T")


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a fresh event loop in its own thread (a test before may have left a
    loop running in this one)."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(work))
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


class LiveServer:
    """A uvicorn server on a loopback port, run in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.token = mint_token(settings)
        self.headers = {"Authorization": f"Bearer {self.token}"}
        settings = settings.model_copy(update={"base_url": self.base})
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port,
                                log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base}/metadata", timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("live server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """The real server over real HTTP on loopback."""
    with LiveServer(settings) as server:
        yield server
