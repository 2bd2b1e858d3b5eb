"""Over HTTP on PostgreSQL, a booking waiting for its batch holds no request thread."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, select
from tests.conftest import LiveServer

from gansu_health.core.database import build_engine
from gansu_health.core.settings import Settings
from gansu_health.devtools.bench_booking_data import clinics, load_facility, patients
from gansu_health.fhir.setup import build_fhir_api
from gansu_health.identity.audit.models import audit_event

WAIT_S = 20.0


@pytest.fixture
def engine(settings: Settings) -> Engine:
    if settings.database_url.startswith("sqlite"):
        pytest.skip("bookings are grouped on PostgreSQL (SQLite's writers are serial)")
    return build_engine(settings.database_url, settings)


def _book(live: LiveServer, patient: str, schedule: str, day: str) -> httpx.Response:
    return httpx.post(f"{live.base}/Appointment/$book", headers=live.headers, timeout=WAIT_S,
                      json={"resourceType": "Parameters", "parameter": [
                          {"name": "patient",
                           "valueReference": {"reference": f"Patient/{patient}"}},
                          {"name": "schedule",
                           "valueReference": {"reference": f"Schedule/{schedule}"}},
                          {"name": "date", "valueDate": day},
                          {"name": "period", "valueCode": "morning"}]})


def _until(check: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_pending_booking_frees_its_thread_and_is_audited_when_answered(
        settings: Settings, engine: Engine) -> None:
    api = build_fhir_api(settings, engine)
    role = load_facility(api)[0].role_id
    people = patients(settings, engine, 3, prefix="deferred-")
    day = (datetime.now(ZoneInfo(settings.timezone)) + timedelta(days=6)).date()
    schedule = clinics(api, [role], day, 4)[0]
    one = settings.model_copy(update={"request_threads": 1})
    answers: dict[str, httpx.Response] = {}
    with LiveServer(one) as live, engine.connect() as blocker:
        blocker.begin()  # the batch cannot take per-person places until this rolls back
        blocker.exec_driver_sql("LOCK TABLE sched_person_claim IN SHARE ROW EXCLUSIVE MODE")
        booking = [threading.Thread(target=lambda p=p: answers.__setitem__(
            p, _book(live, p, schedule, day.isoformat()))) for p in people[:2]]
        for thread in booking:
            thread.start()
        _until(lambda: engine.connect().exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE NOT granted "
            "AND relation = 'sched_person_claim'::regclass").scalar_one())
        # the server's one request thread still serves others while both bookings wait
        read = httpx.get(f"{live.base}/Patient/{people[2]}", headers=live.headers,
                         timeout=WAIT_S)
        assert read.status_code == 200
        assert all(thread.is_alive() for thread in booking) and not answers
        blocker.rollback()
        for thread in booking:
            thread.join(WAIT_S)
        for patient in people[:2]:
            bundle = answers[patient].json()
            assert answers[patient].status_code == 200, bundle
            appointment = bundle["entry"][0]["resource"]
            assert appointment["status"] == "booked"
            assert {"reference": f"Patient/{patient}"} in [
                p["actor"] for p in appointment["participant"]]
        # a second number for the same person: the batch leaves it to its request, which books
        # alone in a transaction of its own and is told why
        again = _book(live, people[0], schedule, day.isoformat())
        assert again.status_code == 422
        assert "already has" in again.json()["issue"][0]["diagnostics"]

    def outcomes() -> list[int]:
        with engine.connect() as conn:
            return sorted(conn.execute(select(audit_event.c.outcome).where(
                audit_event.c.patient_id == people[0],
                audit_event.c.query == "$book")).scalars())

    _until(lambda: len(outcomes()) == 2)
    assert outcomes() == [0, 4]  # audited once each, with the final answer
