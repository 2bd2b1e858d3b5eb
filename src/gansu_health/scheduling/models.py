"""Tables of the number-source pool (号源池). Every row carries ``node``.

``sched_resource`` is a bookable resource (a doctor's PractitionerRole, or an exam device/room) and
names its FHIR Schedule; ``sched_template`` its weekly clinic sessions; ``sched_session`` one
出诊单元 (resource × day × morning/afternoon/night) with its release times; ``sched_slot`` its
time slots (each a FHIR Slot); ``sched_number`` one row per number (号序) with its channel
(online pool, on-site window, referral reserve, family-doctor reserve) and status — a booking
claims a row with one conditional UPDATE. ``sched_appointment`` mirrors every Appointment;
``sched_person_claim`` enforces the per-person limits with its primary key;
``sched_violation`` and ``sched_suspension`` hold the no-show ledger; ``sched_policy`` the
per-institution policy (JSON over the defaults of ``policy.py``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from gansu_health.core.database import BIGID, metadata

FID = 64  # a FHIR logical id
NODE = 16

sched_resource = Table(
    "sched_resource",
    metadata,
    Column("id", String(FID), primary_key=True),  # the FHIR Schedule id
    Column("node", String(NODE), nullable=False),
    Column("kind", String(8), nullable=False),  # doctor | exam
    Column("actor", String(128), nullable=False),  # PractitionerRole/x, Device/x or Location/x
    Column("institution", String(FID), nullable=False),  # Organization id
    Column("department", String(FID), nullable=False),  # HealthcareService id
    Column("practitioner", String(FID), nullable=True),
    Column("location", String(FID), nullable=True),
    Column("title", String(32), nullable=True),  # doctor title code (fees by title)
    Column("modality", String(16), nullable=True),  # exam modality (CT, MR, US, ECG, ES…)
    Column("display", String(128), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Index("uq_sched_resource_actor", "actor", unique=True),
    Index("ix_sched_resource_department", "department"),
)

sched_template = Table(
    "sched_template",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(NODE), nullable=False),
    Column("resource_id", String(FID), nullable=False),
    Column("weekday", Integer, nullable=False),  # ISO: 1 = Monday
    Column("period", String(10), nullable=False),  # morning | afternoon | night
    Column("start_time", String(5), nullable=False),  # local HH:MM
    Column("end_time", String(5), nullable=False),
    Column("slot_minutes", Integer, nullable=False),
    Column("per_slot", Integer, nullable=False),
    Column("quotas", Text, nullable=False),  # JSON {channel: numbers per session}
    Column("active", Boolean, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("uq_sched_template_key", "resource_id", "weekday", "period", unique=True),
)

sched_session = Table(
    "sched_session",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(NODE), nullable=False),
    Column("resource_id", String(FID), nullable=False),
    Column("institution", String(FID), nullable=False),
    Column("department", String(FID), nullable=False),
    Column("day", String(10), nullable=False),  # local ISO date
    Column("period", String(10), nullable=False),
    Column("start_us", BigInteger, nullable=False),
    Column("end_us", BigInteger, nullable=False),
    Column("slot_minutes", Integer, nullable=False),
    Column("status", String(10), nullable=False),  # open | stopped
    Column("release_us", BigInteger, nullable=False),  # public channels open
    Column("reserve_release_us", BigInteger, nullable=False),  # referral/family open
    Column("reserve_return_us", BigInteger, nullable=False),  # unused reserve → online
    Column("reserve_returned", Boolean, nullable=False),
    Column("fee_cents", Integer, nullable=False),
    Column("stop_reason", String(255), nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Index("uq_sched_session_key", "resource_id", "day", "period", unique=True),
    Index("ix_sched_session_department", "department", "day"),
    Index("ix_sched_session_institution", "institution", "day"),
)

sched_slot = Table(
    "sched_slot",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(NODE), nullable=False),
    Column("session_id", BigInteger, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("start_us", BigInteger, nullable=False),
    Column("end_us", BigInteger, nullable=False),
    Column("fid", String(FID), nullable=False),  # the FHIR Slot id
    Column("status", String(20), nullable=False),  # the FHIR Slot.status last written
    Index("ix_sched_slot_session", "session_id", "seq"),
    Index("uq_sched_slot_fid", "fid", unique=True),
)

sched_number = Table(
    "sched_number",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(NODE), nullable=False),
    Column("session_id", BigInteger, nullable=False),
    Column("slot_id", BigInteger, nullable=False),
    Column("seq", Integer, nullable=False),  # 号序 within the session
    Column("channel", String(16), nullable=False),
    Column("status", String(8), nullable=False),  # free | held | booked | void
    Column("appointment", String(FID), nullable=True),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_sched_number_claim", "session_id", "channel", "status", "seq"),
    Index("ix_sched_number_slot", "slot_id", "status"),
    Index("uq_sched_number_appointment", "appointment", unique=True),
)

sched_appointment = Table(
    "sched_appointment",
    metadata,
    Column("id", String(FID), primary_key=True),  # the FHIR Appointment id
    Column("node", String(NODE), nullable=False),
    Column("session_id", BigInteger, nullable=False),
    Column("slot_id", BigInteger, nullable=True),  # none while on the waitlist
    Column("number_seq", Integer, nullable=True),
    Column("channel", String(16), nullable=False),
    Column("patient", String(FID), nullable=False),
    Column("institution", String(FID), nullable=False),
    Column("department", String(FID), nullable=False),
    Column("day", String(10), nullable=False),
    # held | booked | arrived | noshow | cancelled | waitlist
    Column("status", String(10), nullable=False),
    Column("hold_expires_us", BigInteger, nullable=True),
    Column("reason", String(64), nullable=True),
    Column("rescheduled_from", String(FID), nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_sched_appointment_patient", "patient", "day"),
    Index("ix_sched_appointment_session", "session_id", "status", "created_us"),
    Index("ix_sched_appointment_status", "status", "hold_expires_us"),
)

sched_person_claim = Table(
    "sched_person_claim",
    metadata,
    Column("patient", String(FID), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("scope", String(96), primary_key=True),  # department:<id>, day, modality:<code>
    Column("ordinal", Integer, primary_key=True),  # 1..limit: the key is the limit
    Column("node", String(NODE), nullable=False),
    Column("appointment", String(FID), nullable=False),
    Index("ix_sched_person_claim_appointment", "appointment"),
)

sched_violation = Table(
    "sched_violation",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(NODE), nullable=False),
    Column("patient", String(FID), nullable=False),
    Column("appointment", String(FID), nullable=False),
    Column("institution", String(FID), nullable=False),
    Column("kind", String(16), nullable=False),  # noshow
    Column("at_us", BigInteger, nullable=False),
    Index("ix_sched_violation_patient", "patient", "at_us"),
)

sched_suspension = Table(
    "sched_suspension",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(NODE), nullable=False),
    Column("patient", String(FID), nullable=False),
    Column("from_us", BigInteger, nullable=False),
    Column("until_us", BigInteger, nullable=False),
    Column("reason", String(255), nullable=False),
    Index("ix_sched_suspension_patient", "patient", "until_us"),
)

sched_policy = Table(
    "sched_policy",
    metadata,
    Column("institution", String(FID), primary_key=True),
    Column("node", String(NODE), nullable=False),
    Column("body", Text, nullable=False),  # JSON: the fields that differ from the defaults
    Column("updated_us", BigInteger, nullable=False),
)
