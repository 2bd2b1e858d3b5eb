"""Data for the booking benchmark and tests: a demo-province hospital, patients, clinics.

The hospital is taken from the demo province generator (its Organization, Location,
departments, doctors and roles, plus the provincial Organization its licences name), posted as one
transaction Bundle so the registry rules run as in production.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Engine

from gansu_health.core.database import write_transaction
from gansu_health.core.settings import Settings
from gansu_health.demo.registry import PROVINCE_ID, Clinician, build_registry
from gansu_health.fhir.rest.dispatch import FhirApi, FhirRequest
from gansu_health.fhir.setup import build_service
from gansu_health.fhir.storage.repository import WriteItem
from gansu_health.scheduling import policy as pol
from gansu_health.scheduling import pool
from gansu_health.scheduling.operations import scheduler_of

DEFAULT_FACILITY = "gs-620100-h01"  # a tertiary hospital of Lanzhou with 33 doctors


def facility_bundle(facility: str = DEFAULT_FACILITY, seed: int = 2019
                    ) -> tuple[dict[str, Any], list[Clinician]]:
    """Return a transaction Bundle with one demo hospital's registry entries, and its doctors."""
    bundles, registry = build_registry(seed)
    clinicians = next(f.clinicians for fs in registry.facilities.values() for f in fs
                      if f.spec.id == facility)
    entries = [e for b in bundles for e in b.get("entry", [])
               if e["resource"]["id"] in (facility, PROVINCE_ID)
               or e["resource"]["id"].startswith(f"{facility}-")]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}, clinicians


def post(api: FhirApi, method: str, path: str, body: Any = None,
         params: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """Call the FHIR API in-process; raise with the OperationOutcome on an error."""
    raw = orjson.dumps(body) if body is not None else b""
    resp = api.handle(FhirRequest(method, path, list(params), {}, raw))
    out: dict[str, Any] = orjson.loads(resp.body) if resp.body else {}
    if resp.status >= 400:
        raise RuntimeError(f"{method} {path} answered {resp.status}: {out}")
    return out


def load_facility(api: FhirApi, facility: str = DEFAULT_FACILITY) -> list[Clinician]:
    """Load one demo hospital through the FHIR API; return its doctors."""
    bundle, clinicians = facility_bundle(facility)
    post(api, "POST", "", bundle)
    return clinicians


def patients(settings: Settings, engine: Engine, count: int, prefix: str = "bench-p"
             ) -> list[str]:
    """Store ``count`` plain Patients straight into the repository (no MPI); return their ids."""
    store = build_service(settings).store
    ids = [f"{prefix}{i:06d}" for i in range(count)]
    for start in range(0, count, 1000):
        items = [WriteItem({"resourceType": "Patient", "id": fid, "active": True,
                            "name": [{"text": f"患者{fid[-6:]}"}]}, fid, new=True)
                 for fid in ids[start:start + 1000]]
        with write_transaction(engine) as conn:
            store.write_many(conn, items)
    return ids


def clinics(api: FhirApi, roles: Sequence[str], day: date, numbers_each: int,
            period: str = "morning") -> list[str]:
    """Make doctors bookable and publish one session each on ``day`` holding ``numbers_each``
    online numbers; return the Schedule ids."""
    sched = scheduler_of(api)
    with write_transaction(api.engine) as conn:
        schedules = [pool.register_doctor(conn, sched.store, role, sched.node) for role in roles]
    sessions(api, schedules, day, numbers_each, period)
    return schedules


def sessions(api: FhirApi, schedules: Sequence[str], day: date, numbers_each: int,
             period: str = "morning") -> None:
    """Publish one session of each Schedule on ``day`` holding ``numbers_each`` online
    numbers."""
    sched = scheduler_of(api)
    spec = pool.spec_for_numbers(numbers_each, period)
    with write_transaction(api.engine) as conn:
        for schedule in schedules:
            institution = pool.resource_row(conn, schedule).institution
            pool.create_session(conn, sched.store, schedule, day, spec,
                                pol.load(conn, institution), sched.zone, sched.node)
