"""The demo's hospital registrations give a data steward real work: certain links and a queue."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import create_engine

from gansu_health.core.settings import Settings
from gansu_health.demo import generate_demo
from gansu_health.demo.duplicates import DEMO_HOSPITAL, KINDS, hospital_registrations
from gansu_health.fhir.loader import LoadStats, post_bundle
from gansu_health.fhir.rest.dispatch import FhirApi, FhirRequest
from gansu_health.fhir.setup import build_fhir_api
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM


def _get(api: FhirApi, path: str, *params: tuple[str, str]) -> Any:
    resp = api.handle(FhirRequest("GET", path, list(params), {}))
    assert resp.status == 200, resp.body
    return orjson.loads(resp.body)


def _golden(api: FhirApi, patient: str) -> str:
    links = _get(api, "Patient/$mdm-query-links", ("resourceId", f"Patient/{patient}"))
    link = next(p for p in links["parameter"] if p["name"] == "link")
    parts = {p["name"]: p for p in link["part"]}
    return orjson.dumps(parts["goldenResourceId"]).decode()


def test_hospital_copies_link_by_id_and_queue_the_doubtful_ones(settings: Settings) -> None:
    bundles = generate_demo(seed=5, patients=60)
    extra = hospital_registrations(bundles, 5, DEMO_HOSPITAL, count=9)
    assert extra == hospital_registrations(generate_demo(seed=5, patients=60), 5, DEMO_HOSPITAL,
                                           count=9)  # the same seed, the same copies
    copies = [e["resource"] for e in extra["entry"]]
    assert len(copies) == 9
    api = build_fhir_api(settings, create_engine(settings.database_url))
    stats = LoadStats()
    for i, bundle in enumerate([*bundles, extra]):
        post_bundle(api, bundle, stats, f"bundle {i}")
    assert not stats.errors, stats.errors[:3]
    originals = {e["resource"]["id"]: e["resource"] for b in bundles for e in b["entry"]
                 if e["resource"]["resourceType"] == "Patient"}
    for i, copy in enumerate(copies):
        ids = {x["system"] for x in copy["identifier"]}
        assert any(s.endswith(f"/mrn/{DEMO_HOSPITAL}") for s in ids)
        assert (RESIDENT_ID_SYSTEM in ids) == (KINDS[i % 3] == "same-id")
        if KINDS[i % 3] == "same-id":  # the same resident ID: one person at once
            twin = next(o for o in originals.values() if any(
                x in o["identifier"] for x in copy["identifier"]))
            assert _golden(api, copy["id"]) == _golden(api, twin["id"])
    queue = _get(api, "Patient/$mdm-review-queue")
    queued = orjson.dumps(queue).decode()
    assert any(c["id"] in queued for c in copies if KINDS[copies.index(c) % 3] != "same-id")
