"""Batch deduplication of Patients stored before the MPI saw them (``gansu-health mpi dedupe``)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.mpi.test_service_support import HOSPITAL_A, HOSPITAL_B, links, mpi, new_person
from typer.testing import CliRunner

from gansu_health.core.database import write_transaction
from gansu_health.mpi.cli import _print, mpi_app, run_dedupe
from gansu_health.mpi.dedupe import Deduplicator


def _store_unseen(client: TestClient, bodies: list[dict[str, Any]]) -> list[str]:
    """Store Patients bypassing the MPI, as a bulk load before it existed would."""
    service = mpi(client)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with write_transaction(engine) as conn, service.internal(conn):
        return [service.store.write(conn, body).fid for body in bodies]


def test_dedupe_reports_then_applies(client: TestClient) -> None:
    same, twin, other = new_person("杨", "帆"), new_person("冯", "雪", "female"), new_person()
    ids = _store_unseen(client, [
        same.patient(HOSPITAL_A), same.patient(HOSPITAL_B, family="羊"),
        twin.patient(HOSPITAL_A), twin.patient(HOSPITAL_B, resident_id=other.resident_id)])
    deduplicator = Deduplicator(mpi(client), client.app.state.engine,  # type: ignore[attr-defined]
                                batch=2)
    report = run_dedupe(deduplicator, apply=False)
    assert report.indexed >= 4
    found = {(p.a, p.b): p for p in report.pairs}
    pair = found[tuple(sorted(ids[:2]))]  # type: ignore[index]
    assert (pair.grade, pair.status) == ("certain", "unlinked")
    assert found[tuple(sorted(ids[2:]))].grade in ("probable", "possible")  # type: ignore[index]
    assert not links(client, resourceId=ids[0])
    _print(report, 5)

    applied = run_dedupe(deduplicator, apply=True)
    assert applied.indexed == 0 and applied.applied["linked"] >= 2
    assert applied.applied["queued for review"] >= 1
    golden = {link["goldenResourceId"] for i in ids[:2]
              for link in links(client, resourceId=i, matchResult="MATCH")}
    assert len(golden) == 1
    twins = {link["goldenResourceId"] for i in ids[2:]
             for link in links(client, resourceId=i, matchResult="MATCH")}
    assert len(twins) == 2
    again = run_dedupe(deduplicator, apply=False)
    pair = next(p for p in again.pairs if {p.a, p.b} == set(ids[:2]))
    assert pair.status == "linked"


def test_cli_exposes_the_dedupe_command() -> None:
    result = CliRunner().invoke(mpi_app, ["dedupe", "--help"])
    assert result.exit_code == 0
    assert "--apply" in result.output
