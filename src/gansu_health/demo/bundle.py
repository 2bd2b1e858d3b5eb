"""Small FHIR JSON helpers: transaction bundles with urn:uuid entries, codings, dates, addresses."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

from gansu_health.demo import codes
from gansu_health.demo.regions import PROVINCE_NAME, gansu_region_codes, region_of

Resource = dict[str, Any]

CHINA_TZ = timezone(timedelta(hours=8))
_NAMESPACE = uuid.UUID("5d1c6f3e-62a0-4c8e-9a55-6a6e5375e7a1")


def full_url(resource_type: str, resource_id: str) -> str:
    """Return the stable ``urn:uuid:`` fullUrl of a resource with a stable id."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{resource_type}/{resource_id}')}"


class Transaction:
    """A FHIR transaction Bundle built from PUT entries with stable ids."""

    def __init__(self, bundle_id: str) -> None:
        self.bundle_id = bundle_id
        self._entries: list[Resource] = []
        self._local: set[str] = set()

    def put(self, resource: Resource) -> Resource:
        """Add ``resource`` as a PUT entry; return a Reference to it."""
        key = f"{resource['resourceType']}/{resource['id']}"
        if key in self._local:
            raise ValueError(f"duplicate entry {key}")
        self._local.add(key)
        self._entries.append(
            {
                "fullUrl": full_url(resource["resourceType"], resource["id"]),
                "resource": resource,
                "request": {"method": "PUT", "url": key},
            }
        )
        return self.ref(resource["resourceType"], resource["id"])

    def ref(self, resource_type: str, resource_id: str, display: str | None = None) -> Resource:
        """Return a Reference: the entry's fullUrl when it is in this bundle, else Type/id."""
        key = f"{resource_type}/{resource_id}"
        reference: Resource = {
            "reference": full_url(resource_type, resource_id) if key in self._local else key
        }
        if display:
            reference["display"] = display
        return reference

    @staticmethod
    def local_url(resource_type: str, resource_id: str) -> str:
        """Return the fullUrl of an entry that is, or will be, in this bundle."""
        return full_url(resource_type, resource_id)

    def __len__(self) -> int:
        return len(self._entries)

    def build(self) -> Resource:
        """Return the Bundle as a JSON-ready dict."""
        return {
            "resourceType": "Bundle",
            "id": self.bundle_id,
            "type": "transaction",
            "entry": self._entries,
        }


def coding(system: str, code: str, display: str | None = None) -> Resource:
    """Return a Coding."""
    result: Resource = {"system": system, "code": code}
    if display:
        result["display"] = display
    return result


def concept(
    system: str, code: str, display: str | None = None, text: str | None = None
) -> Resource:
    """Return a CodeableConcept with one coding."""
    result: Resource = {"coding": [coding(system, code, display)]}
    if text or display:
        result["text"] = text or display
    return result


def fhir_datetime(moment: datetime) -> str:
    """Format a dateTime in China Standard Time with an explicit +08:00 offset."""
    local = moment.replace(tzinfo=CHINA_TZ) if moment.tzinfo is None else moment
    return local.astimezone(CHINA_TZ).isoformat(timespec="seconds")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """Return a Beijing-time datetime on ``day``."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHINA_TZ)


def division_extension(county_code: str) -> Resource:
    """Return the extension that carries a GB/T 2260 administrative-division code."""
    name = gansu_region_codes()[county_code]
    return {
        "url": codes.EXT_ADMIN_DIVISION,
        "valueCoding": coding(codes.CS_ADMIN_DIVISION, county_code, name),
    }


def address(county_code: str, line: str, use: str = "home") -> Resource:
    """Return a Gansu Address with city/district text and the division-code extension."""
    region = region_of(county_code)
    county = gansu_region_codes()[county_code]
    district = "" if county in ("市辖区", region.name) else county
    result: Resource = {
        "extension": [division_extension(county_code)],
        "use": use,
        "type": "both",
        "text": f"{PROVINCE_NAME}{region.name}{district}{line}",
        "line": [line],
        "city": region.name,
    }
    if district:
        result["district"] = district
    result.update(state=PROVINCE_NAME, country="CN")
    return result
