"""Hospital registrations of demo residents: the first day's work of a data steward.

Hospitals register people they see under their own patient numbers. A few demo residents are
registered once more at a demo hospital: some with their resident ID (the MPI links them at once),
some with only a name, birth date and a new phone — the name misheard by a clerk (a homophone) or
written in traditional characters: candidates the steward reviews.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from datetime import date
from typing import Any

import zhconv

from gansu_health.demo.bundle import Transaction
from gansu_health.demo.generator import DEFAULT_AS_OF, iter_resources
from gansu_health.demo.people import mobile_number
from gansu_health.mpi.engine.synthetic import MRN_SYSTEM, misheard
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM

Resource = dict[str, Any]
KINDS = ("same-id", "misheard-name", "traditional-new-phone")
DEMO_HOSPITAL = "gs-620100-h01"  # a tertiary hospital of Lanzhou (the demo clinics' too)


def _adults_with_ids(bundles: Iterable[Resource], as_of: date) -> list[Resource]:
    found = []
    for res in iter_resources(bundles):
        if res.get("resourceType") != "Patient" or not res.get("birthDate"):
            continue
        if as_of.year - int(res["birthDate"][:4]) >= 18 and any(
                i.get("system") == RESIDENT_ID_SYSTEM for i in res.get("identifier", [])):
            found.append(res)
    return found


def _given(patient: Resource) -> tuple[str, str]:
    name = patient["name"][0]
    return name.get("family", ""), "".join(name.get("given", []))


def _registration(original: Resource, kind: str, hospital: str, number: str,
                  rng: random.Random) -> Resource:
    patient = copy.deepcopy(original)
    patient.pop("extension", None)
    mrn = {"use": "usual", "system": f"{MRN_SYSTEM}{hospital}", "value": number}
    if kind == "same-id":
        patient["identifier"] = [*[i for i in patient["identifier"]
                                   if i.get("system") == RESIDENT_ID_SYSTEM], mrn]
        return patient
    patient["identifier"] = [mrn]  # no ID shown at the window, no address taken
    patient.pop("address", None)
    patient["telecom"] = [{"system": "phone", "value": mobile_number(rng), "use": "mobile"}]
    family, given = _given(patient)
    if kind == "misheard-name":
        given = misheard(given, rng) or given
    else:
        family, given = zhconv.convert(family, "zh-tw"), zhconv.convert(given, "zh-tw")
    patient["name"] = [{"use": "official", "text": f"{family}{given}", "family": family,
                        "given": [given]}]
    return patient


def hospital_registrations(bundles: list[Resource], seed: int, hospital: str, count: int = 9,
                           as_of: date = DEFAULT_AS_OF) -> Resource:
    """A transaction Bundle registering ``count`` demo adults again at ``hospital``
    (Organization id), a third of each kind in ``KINDS``."""
    rng = random.Random(f"gansu-demo-duplicates-{seed}")
    adults = _adults_with_ids(bundles, as_of)
    tx = Transaction(f"demo-{seed}-hospital-registrations")
    for i, original in enumerate(rng.sample(adults, min(count, len(adults)))):
        patient = _registration(original, KINDS[i % len(KINDS)], hospital,
                                f"{700000 + i:08d}", rng)
        patient["id"] = f"demo-{seed}-{hospital}-{i:03d}"
        tx.put(patient)
    return tx.build()
