"""Registry administration through FHIR: list and search institutions, edit a few fields of
institutions, departments and staff (each type's editable fields are described as data)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gansu_health.core.errors import BadRequest
from gansu_health.portal import directory_codes as codes
from gansu_health.ui.fhir_access import FhirAs
from gansu_health.ui.i18n import N_

Json = dict[str, Any]
PROVIDER = "http://terminology.hl7.org/CodeSystem/organization-type|prov"


def _phone(res: Json) -> str:
    return next((t.get("value", "") for t in res.get("telecom") or []
                 if t.get("system") == "phone"), "")


def _set_phone(res: Json, value: str) -> None:
    others = [t for t in res.get("telecom") or [] if t.get("system") != "phone"]
    res["telecom"] = [*others, {"system": "phone", "value": value, "use": "work"}] if value \
        else others


def _name_text(res: Json) -> str:
    names = res.get("name") or [{}]
    return str(names[0].get("text") or (names[0].get("family", "") + "".join(
        names[0].get("given") or [])))


def _set_name_text(res: Json, value: str) -> None:
    names = res.get("name") or [{}]
    names[0] = {**names[0], "text": value}
    res["name"] = names


def _hours(index: int) -> Callable[[Json], str]:
    def get(res: Json) -> str:
        slot = (res.get("availableTime") or [{}])[0]
        key = ("availableStartTime", "availableEndTime")[index]
        return str(slot.get(key, ""))[:5]
    return get


def _set_hours(index: int) -> Callable[[Json, str], None]:
    def put(res: Json, value: str) -> None:
        if value and not (len(value) == 5 and value[2] == ":" and value.replace(":", "").isdigit()):
            raise BadRequest("Times are written HH:MM", expression="hours")
        slots = res.get("availableTime") or [{"daysOfWeek": ["mon", "tue", "wed", "thu", "fri"]}]
        key = ("availableStartTime", "availableEndTime")[index]
        slots[0] = {**slots[0], key: f"{value}:00"} if value else {
            k: v for k, v in slots[0].items() if k != key}
        res["availableTime"] = slots
    return put


@dataclass(frozen=True, slots=True)
class EditField:
    """One editable field: a label msgid, how to read it and how to write it."""

    key: str
    label: str
    get: Callable[[Json], str]
    put: Callable[[Json, str], None]
    kind: str = "text"


def _plain(key: str) -> tuple[Callable[[Json], str], Callable[[Json, str], None]]:
    def put(res: Json, value: str) -> None:
        res[key] = value
    return (lambda res: str(res.get(key, ""))), put


def _active() -> tuple[Callable[[Json], str], Callable[[Json, str], None]]:
    def put(res: Json, value: str) -> None:
        res["active"] = value == "on"
    return (lambda res: "on" if res.get("active", True) else ""), put


EDITABLE: dict[str, tuple[EditField, ...]] = {
    "Organization": (EditField("name", N_("Name"), *_plain("name")),
                     EditField("phone", N_("Phone"), _phone, _set_phone, "tel"),
                     EditField("active", N_("Active"), *_active(), "checkbox")),
    "HealthcareService": (EditField("name", N_("Name"), *_plain("name")),
                          EditField("opens", N_("Opens (HH:MM)"), _hours(0), _set_hours(0)),
                          EditField("closes", N_("Closes (HH:MM)"), _hours(1), _set_hours(1)),
                          EditField("active", N_("Active"), *_active(), "checkbox")),
    "Practitioner": (EditField("name", N_("Name"), _name_text, _set_name_text),
                     EditField("phone", N_("Phone"), _phone, _set_phone, "tel"),
                     EditField("active", N_("Active"), *_active(), "checkbox")),
}


def institutions(fhir: FhirAs, q: str, city: str) -> list[Json]:
    """Institutions by name and city (inactive ones too), by name."""
    params = [("type", PROVIDER), ("_count", "30"), ("_sort", "name")]
    if q.strip():
        params.append(("name:contains", q.strip()))
    if codes.city_name(city):
        params.append(("address-city", codes.city_name(city) or ""))
    return fhir.search("Organization", params)


def institution(fhir: FhirAs, org_id: str) -> tuple[Json, list[Json], list[tuple[Json, Json]]]:
    """An institution, its departments and its staff (role with practitioner)."""
    org = fhir.read("Organization", org_id)
    services = fhir.search("HealthcareService", [("organization", org_id), ("_count", "100")])
    roles, included = fhir.search_with_includes("PractitionerRole", [
        ("organization", org_id), ("_include", "PractitionerRole:practitioner"),
        ("_count", "200")])
    people = [(role, included.get(role.get("practitioner", {}).get("reference", ""), {}))
              for role in roles]
    return org, services, people


def edit(fhir: FhirAs, rtype: str, fid: str, etag: str, form: dict[str, str]) -> Json:
    """Apply the form's values to the resource and update it (refusing lost updates)."""
    resource = fhir.read(rtype, fid)
    for spec in EDITABLE[rtype]:
        spec.put(resource, form.get(spec.key, "").strip())
    return fhir.update(resource, etag or None)
