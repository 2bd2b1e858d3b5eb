"""The MPI service benchmark runs end to end on a tiny population."""

from __future__ import annotations

import io
import os

import pytest
import typer
from rich.console import Console
from sqlalchemy import create_engine, text

from gansu_health.devtools.bench_mpi_service import run, source_body, with_typo
from gansu_health.devtools.pgcluster import PostgresCluster
from gansu_health.mpi.engine.synthetic import generate_population


def test_tiny_run_registers_everything_and_times_match() -> None:
    before = os.environ.get("GANSU_HEALTH_MPI_IDENTITY_POLICY")
    result = run(persons=30, matches=8, console=Console(file=io.StringIO()))
    assert result["registration"]["errors"] == 0
    assert result["registration"]["records"] == result["registrations"] > 30
    assert result["match"]["matches"] == 8
    assert sum(result["match"]["top_grades"].values()) == 8
    assert result["match"]["p50_ms"] <= result["match"]["p95_ms"] <= result["match"]["p99_ms"]
    assert result["db_bytes"] > 0
    assert os.environ.get("GANSU_HEALTH_MPI_IDENTITY_POLICY") == before


def test_source_bodies_have_no_id_and_typos_change_one_thing() -> None:
    import random

    record = generate_population(3)[0]
    body = source_body(record)
    assert "id" not in body and "managingOrganization" not in body
    changed, kind = with_typo(body, random.Random(1))
    assert kind in ("name", "birth", "phone") and changed != body


def test_several_workers_register_into_one_postgresql_database(
        pg_cluster: PostgresCluster) -> None:
    url = pg_cluster.create_database("bench_mpi_workers")
    serial = run(persons=30, matches=4, console=Console(file=io.StringIO()))
    result = run(persons=30, matches=4, workers=2, database_url=url,
                 console=Console(file=io.StringIO()))
    assert result["backend"] == "postgresql" and result["registration"]["workers"] == 2
    assert result["registration"]["errors"] == 0
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            sources = conn.execute(text("SELECT count(*) FROM mpi_record")).scalar_one()
            goldens = conn.execute(text(
                "SELECT count(*) FROM mpi_golden WHERE status = 'active'")).scalar_one()
    finally:
        engine.dispose()
    assert sources == result["registrations"] == serial["registrations"]
    assert 30 <= goldens < sources  # the duplicates found their persons across processes


def test_several_workers_need_postgresql() -> None:
    with pytest.raises(typer.BadParameter, match="--postgres"):
        run(persons=5, matches=1, workers=2, console=Console(file=io.StringIO()))
