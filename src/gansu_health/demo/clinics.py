"""Clinic schedules of the demo province, so that numbers can be booked at once.

In the first hospital of each city (``…-h01``), the first doctor of each department (at most
``per_hospital``) is made bookable with weekly templates — mornings Monday to Saturday and
afternoons Monday to Friday, 30-minute slots of three numbers, three in four online and the
rest at the window — and published up to the public booking horizon (the demo hospitals keep no
referral reserve, so nothing is published beyond it). Idempotent: doctors that already have
templates are left alone.
"""

from __future__ import annotations

from datetime import date, datetime

from gansu_health.core.clock import now
from gansu_health.core.database import write_transaction
from gansu_health.demo.registry import build_registry
from gansu_health.fhir.rest.dispatch import FhirApi
from gansu_health.scheduling import policy as pol
from gansu_health.scheduling import pool
from gansu_health.scheduling.operations import scheduler_of

PER_SLOT = 3
SHAPES = {"morning": ("08:00", "12:00"), "afternoon": ("14:00", "17:30")}
WEEKDAYS = {"morning": range(1, 7), "afternoon": range(1, 6)}
DEMO_POLICY = {"reserve_lead_days": 0}


def demo_doctors(seed: int = 2019, hospitals: tuple[str, ...] | None = None,
                 per_hospital: int = 6) -> list[str]:
    """PractitionerRole ids of the demo's bookable doctors (one per department)."""
    _bundles, registry = build_registry(seed)
    roles: list[str] = []
    for facilities in registry.facilities.values():
        for facility in facilities:
            wanted = (facility.spec.id in hospitals if hospitals is not None
                      else facility.spec.id.endswith("-h01"))
            if not wanted:
                continue
            seen: set[str] = set()
            for clinician in facility.clinicians:
                if clinician.service_id not in seen and len(seen) < per_hospital:
                    seen.add(clinician.service_id)
                    roles.append(clinician.role_id)
    return roles


def spec(period: str) -> pool.SessionSpec:
    """The demo shape of a session of ``period``."""
    start, end = SHAPES[period]
    numbers = pool.slots_in(start, end, 30) * PER_SLOT
    window = numbers // 4
    return pool.SessionSpec(period, start, end, 30, PER_SLOT,
                            {"online": numbers - window, "window": window})


def ensure_demo_clinics(api: FhirApi, roles: list[str], today: date | None = None) -> int:
    """Make ``roles`` bookable with the demo templates and publish; return sessions made."""
    sched = scheduler_of(api)
    day = today or datetime.fromtimestamp(now().timestamp(), sched.zone).date()
    created = 0
    with write_transaction(api.engine) as conn:
        institutions: set[str] = set()
        for role in roles:
            schedule = pool.register_doctor(conn, sched.store, role, sched.node)
            institution = pool.resource_row(conn, schedule).institution
            if institution not in institutions:
                institutions.add(institution)
                pol.save(conn, institution, DEMO_POLICY, sched.node)
            if pool.templates_of(conn, schedule):
                continue
            for period, weekdays in WEEKDAYS.items():
                for weekday in weekdays:
                    pool.set_template(conn, schedule, weekday, spec(period), sched.node)
            created += pool.publish(conn, sched.store, schedule, pol.load(conn, institution),
                                    sched.zone, sched.node, day)
    return created
