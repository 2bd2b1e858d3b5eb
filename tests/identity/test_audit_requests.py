"""The request auditor queues rows, writes them in order in batches, and loses none on failure."""

from __future__ import annotations

from unittest import mock

import pytest
from sqlalchemy import Engine

from gansu_health.core.database import build_engine, read_transaction
from gansu_health.core.settings import Settings
from gansu_health.fhir.rest.dispatch import FhirRequest
from gansu_health.identity.audit import repository as audit
from gansu_health.identity.audit_requests import RequestAuditor
from gansu_health.identity.principal import Principal
from gansu_health.identity.scopes import ScopeSet


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Engine:
    """The module's database."""
    return build_engine(settings.database_url, settings)


def _request(n: int) -> FhirRequest:
    req = FhirRequest("GET", f"Patient/p{n}", [], {"user-agent": "pytest"}, client_ip="10.0.0.1")
    req.principal = Principal("system", "his", ScopeSet.parse("system/*.rs"), client_id="his")
    req.access.interaction("read", "R", "Patient", f"p{n}")
    req.access.patients.add(f"p{n}")
    return req


def _rows(engine: Engine) -> list[audit.AuditRow]:
    with read_transaction(engine) as conn:
        return list(audit.iter_rows(conn))


def test_rows_wait_for_the_batch_then_keep_request_order(engine: Engine) -> None:
    auditor = RequestAuditor(engine, "620000", flush_ms=60_000)
    before = len(_rows(engine))
    for n in range(5):
        auditor.record(_request(n), 200 if n != 3 else 403)
    assert len(_rows(engine)) == before  # queued, not yet written
    assert auditor.flush() == 5
    rows = _rows(engine)[before:]
    assert [r.patient_id for r in rows] == [f"p{n}" for n in range(5)]
    assert [r.outcome for r in rows] == [0, 0, 0, 4, 0]
    assert rows[0].recorded_us <= rows[-1].recorded_us
    assert audit.verify(engine).ok
    auditor.close()


def test_a_failed_batch_stays_queued_and_is_written_later(engine: Engine) -> None:
    auditor = RequestAuditor(engine, "620000", flush_ms=60_000)
    before = len(_rows(engine))
    auditor.record(_request(9), 200)
    with mock.patch("gansu_health.identity.audit_requests.record_many",
                    side_effect=RuntimeError("disk full")), pytest.raises(RuntimeError):
        auditor.flush()
    assert len(_rows(engine)) == before
    auditor.close()  # writes what is still queued
    assert [r.patient_id for r in _rows(engine)[before:]] == ["p9"]


def test_unbatched_mode_writes_before_returning(engine: Engine) -> None:
    auditor = RequestAuditor(engine, "620000", flush_ms=0)
    before = len(_rows(engine))
    auditor.record(_request(7), 200)
    assert len(_rows(engine)) == before + 1


def test_a_request_touching_several_patients_is_audited_once_for_each(engine: Engine) -> None:
    auditor = RequestAuditor(engine, "620000", flush_ms=60_000)
    before = len(_rows(engine))
    req = FhirRequest("GET", "Observation", [("code", "4548-4")], {}, client_ip="10.0.0.2")
    req.principal = Principal("system", "his", ScopeSet.parse("system/*.rs"), client_id="his")
    req.access.interaction("search-type", "E", "Observation")
    req.access.query = "code=4548-4"
    req.access.patients |= {"p-b", "p-a", "p-c"}
    auditor.record(req, 200)
    auditor.record(_request(11), 200)
    assert auditor.flush() == 4
    rows = _rows(engine)[before:]
    assert [r.patient_id for r in rows] == ["p-a", "p-b", "p-c", "p11"]
    assert {(r.query, r.action, r.resource_type, r.recorded_us) for r in rows[:3]} == {
        ("code=4548-4 [3 patients]", "E", "Observation", rows[0].recorded_us)}
    assert rows[3].query is None
    assert audit.verify(engine).ok
    auditor.close()
