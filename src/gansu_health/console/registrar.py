"""Registrar work on the clinic schedules of their institution, through the pool's operations:
bookable doctors, weekly templates (``$template``/``$templates``), release (``$publish``), the
sessions with their numbers (``$sessions``), 停诊 (``$stop-clinic``) and 加号
(``$extra-numbers``), each change with the reason the operation asks for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gansu_health.core.errors import Forbidden
from gansu_health.portal import hospitals
from gansu_health.ui.fhir_access import FhirAs
from gansu_health.ui.i18n import N_

Json = dict[str, Any]
WEEKDAYS = ((1, N_("Monday")), (2, N_("Tuesday")), (3, N_("Wednesday")), (4, N_("Thursday")),
            (5, N_("Friday")), (6, N_("Saturday")), (7, N_("Sunday")))
PERIODS = (("morning", N_("Morning")), ("afternoon", N_("Afternoon")),
           ("night", N_("Evening")))
CHANNELS = (("online", N_("Online")), ("window", N_("Window")),
            ("referral", N_("Referral reserve")), ("family", N_("Family-doctor reserve")))
TEMPLATE_FIELDS = ("weekday", "period", "start", "end", "slotMinutes", "perSlot",
                   "quota-online", "quota-window")


@dataclass(frozen=True, slots=True)
class Doctor:
    """A doctor of the institution and their Schedule (None until made bookable)."""

    role_id: str
    name: str
    title: str
    department: str
    schedule: str | None


@dataclass
class Session:
    """A clinic session with its numbers per channel: {channel: (free, taken, all)}."""

    day: str
    period: str
    start: str
    end: str
    status: str
    fee: float
    stop_reason: str = ""
    numbers: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def _parts(parameters: Json, name: str) -> list[dict[str, Any]]:
    """The parts of each ``name`` parameter, as {part name: value}."""
    out = []
    for param in parameters.get("parameter") or []:
        if param.get("name") == name:
            out.append({p["name"]: _value(p) for p in param.get("part") or []})
    return out


def _operation(fhir: FhirAs, path: str, **values: str | int) -> Json:
    parts = [{"name": k, "valueInteger" if isinstance(v, int) else "valueString": v}
             for k, v in values.items()]
    return fhir.call("POST", path, body={"resourceType": "Parameters", "parameter": parts})


def doctors(fhir: FhirAs, organization: str, lang: str) -> tuple[str, list[Doctor]]:
    """The institution's name and its doctors by department, with their Schedules."""
    place, departments = hospitals.hospital_detail(fhir, organization, lang)
    roles = [(d, doc) for d in departments for doc in d.doctors]
    refs = ",".join(f"PractitionerRole/{doc.role_id}" for _, doc in roles)
    schedules: dict[str, str] = {}
    if refs:
        for schedule in fhir.search("Schedule", [("actor", refs), ("_count", "500")]):
            for ref in schedule.get("actor") or []:
                value = str(ref.get("reference", ""))
                if value.startswith("PractitionerRole/"):
                    schedules[value.removeprefix("PractitionerRole/")] = schedule["id"]
    return place.name, [Doctor(doc.role_id, doc.name, doc.title, d.name,
                               schedules.get(doc.role_id)) for d, doc in roles]


def make_bookable(fhir: FhirAs, role: str) -> str:
    """Make a doctor bookable; their Schedule id."""
    return str(_operation(fhir, f"PractitionerRole/{role}/$bookable")["id"])


def schedule_of(fhir: FhirAs, organization: str | None, schedule: str) -> Json:
    """A Schedule of the registrar's institution (403 for another institution's)."""
    found = fhir.read("Schedule", schedule)
    role = next((str(a.get("reference", "")).removeprefix("PractitionerRole/")
                 for a in found.get("actor") or []
                 if str(a.get("reference", "")).startswith("PractitionerRole/")), "")
    owner = (fhir.read("PractitionerRole", role).get("organization") or {}) if role else {}
    if not organization or owner.get("reference") != f"Organization/{organization}":
        raise Forbidden("This schedule belongs to another institution")
    return found


def templates(fhir: FhirAs, schedule: str) -> list[dict[str, Any]]:
    """The weekly templates."""
    return _parts(fhir.call("GET", f"Schedule/{schedule}/$templates"), "template")


def _value(part: Json) -> Any:
    return next((v for k, v in part.items() if k.startswith("value")), None)


def _numbers(parts: list[Json]) -> tuple[str, tuple[int, int, int]]:
    counts = {p["name"]: _value(p) for p in parts}
    channel = str(counts.pop("channel"))
    taken = int(counts.get("held", 0)) + int(counts.get("booked", 0))
    return channel, (int(counts.get("free", 0)), taken, sum(int(v) for v in counts.values()))


def sessions(fhir: FhirAs, schedule: str) -> list[Session]:
    """Sessions of the next two weeks with their numbers."""
    out = []
    for param in fhir.call("GET", f"Schedule/{schedule}/$sessions").get("parameter") or []:
        parts = param.get("part") or []
        raw = {p["name"]: _value(p) for p in parts if p["name"] != "numbers"}
        out.append(Session(raw["date"], raw["period"], raw["start"], raw["end"], raw["status"],
                           float((raw.get("fee") or {}).get("value") or 0),
                           str(raw.get("stopReason") or ""),
                           dict(_numbers(p.get("part") or []) for p in parts
                                if p["name"] == "numbers")))
    return out


def set_template(fhir: FhirAs, schedule: str, form: dict[str, str]) -> None:
    """Create or replace the template of a weekday and period."""
    values: dict[str, str | int] = {}
    for name in TEMPLATE_FIELDS:
        value = form.get(name, "").strip()
        if value:
            values[name] = int(value) if value.isdigit() else value
    _operation(fhir, f"Schedule/{schedule}/$template", **values)


def publish(fhir: FhirAs, schedule: str) -> int:
    """Release the template sessions up to the horizon; how many were created."""
    answer = _operation(fhir, f"Schedule/{schedule}/$publish")
    return int(next(p["valueInteger"] for p in answer["parameter"] if p["name"] == "created"))


def stop(fhir: FhirAs, schedule: str, day: str, period: str, reason: str) -> int:
    """Stop a session (停诊); how many bookings were cancelled (and refunded)."""
    answer = _operation(fhir, f"Schedule/{schedule}/$stop-clinic", date=day, period=period,
                        reason=reason)
    return int(next(p["valueInteger"] for p in answer["parameter"] if p["name"] == "cancelled"))


def extra(fhir: FhirAs, schedule: str, day: str, period: str, count: int, channel: str,
          reason: str) -> list[int]:
    """Add numbers (加号); their 号序."""
    answer = _operation(fhir, f"Schedule/{schedule}/$extra-numbers", date=day, period=period,
                        count=count, channel=channel, reason=reason)
    return [int(p["valueInteger"]) for p in answer["parameter"] if p["name"] == "number"]
