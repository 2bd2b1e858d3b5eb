"""Migrations run up and down on both engines; every table carries the node column."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from gansu_health.core.migrate import downgrade, upgrade
from gansu_health.devtools.pgcluster import PostgresCluster


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"m_{uuid.uuid4().hex[:10]}")


def test_upgrade_then_downgrade(empty_url: str) -> None:
    upgrade(empty_url)
    engine = create_engine(empty_url)
    tables = set(inspect(engine).get_table_names())
    assert {"resource", "resource_version", "idx_token", "idx_ref"} <= tables
    for table in tables - {"alembic_version"}:
        columns = {c["name"] for c in inspect(engine).get_columns(table)}
        assert "node" in columns, table
    engine.dispose()
    downgrade(empty_url)
    engine = create_engine(empty_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
