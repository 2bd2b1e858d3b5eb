"""Third-party FHIR clients from PyPI (fhirpy, fhirclient) driving the real server over HTTP."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Protocol

import httpx
import pytest
from fhirclient import server as fc_server
from fhirclient.models.fhirdate import FHIRDate
from fhirclient.models.humanname import HumanName
from fhirclient.models.identifier import Identifier
from fhirclient.models.observation import Observation as FcObservation
from fhirclient.models.patient import Patient as FcPatient
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound

from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM, make_resident_id

RESIDENT_ID = RESIDENT_ID_SYSTEM  # 居民身份证号
LOINC = "http://loinc.org"


class LiveServer(Protocol):
    """The part of the ``live_server`` fixture these tests use."""

    base: str
    headers: dict[str, str]


def _resident_id(birth: str, gender: str) -> str:
    """A valid resident ID (Lanzhou, Chengguan district) for this birth date and sex."""
    sequence = uuid.uuid4().int % 500 * 2 + (gender == "male")
    return make_resident_id("620102", date.fromisoformat(birth), sequence, gender)


def _patient(family: str, given: str, gender: str, birth: str, rid: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": RESIDENT_ID, "value": rid}],
        "name": [{"use": "official", "text": family + given, "family": family,
                  "given": [given]}],
        "gender": gender,
        "birthDate": birth,
        "address": [{"text": "甘肃省兰州市城关区东岗西路1号", "city": "兰州市",
                     "district": "城关区", "state": "甘肃省", "country": "CN"}],
    }


def _weight(pid: str, kg: float, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}],
                 "text": "体重"},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": kg, "unit": "kg", "system": "http://unitsofmeasure.org",
                          "code": "kg"},
    }


def _fhirpy(live: LiveServer) -> SyncFHIRClient:
    return SyncFHIRClient(live.base, authorization=live.headers["Authorization"],
                          extra_headers={"Accept": "application/fhir+json"})


def _post(live: LiveServer, body: dict[str, Any]) -> dict[str, Any]:
    resp = httpx.post(f"{live.base}/{body['resourceType']}", json=body, timeout=30,
                      headers=live.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _transaction(live: LiveServer, resources: list[dict[str, Any]]) -> list[str]:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
        for r in resources]}
    resp = httpx.post(live.base, json=bundle, timeout=60, headers=live.headers)
    assert resp.status_code == 200, resp.text
    entries = resp.json()["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["201"] * len(resources)
    return [e["response"]["location"].split("/")[1] for e in entries]


# --- fhirpy -----------------------------------------------------------------------------------


def test_fhirpy_create_read_update_delete(live_server: LiveServer) -> None:
    client = _fhirpy(live_server)
    rid = _resident_id("1965-10-01", "male")
    patient = client.resource("Patient", **_patient("王", "建国", "male", "1965-10-01", rid))
    patient.save()
    pid = patient.id
    assert pid
    assert patient.meta.versionId == "1"

    read = client.reference("Patient", pid).to_resource()
    assert read.id == pid
    assert read["name"][0]["text"] == "王建国"
    assert read["identifier"][0] == {"system": RESIDENT_ID, "value": rid}
    assert read["address"][0]["city"] == "兰州市"

    read["telecom"] = [{"system": "phone", "value": "13919000001", "use": "mobile"}]
    read.save()
    assert read.meta.versionId == "2"
    again = client.reference("Patient", pid).to_resource()
    assert again["telecom"][0]["value"] == "13919000001"
    assert again.meta.versionId == "2"

    found = client.resources("Patient").search(identifier=f"{RESIDENT_ID}|{rid}").fetch()
    assert [p.id for p in found] == [pid]

    again.delete()
    with pytest.raises(ResourceNotFound):
        client.reference("Patient", pid).to_resource()
    assert client.resources("Patient").search(identifier=f"{RESIDENT_ID}|{rid}").fetch() == []


def test_fhirpy_chained_search_and_include(live_server: LiveServer) -> None:
    client = _fhirpy(live_server)
    mu = _post(live_server, _patient("慕容", "秀英", "female", "1988-03-08",
                                     _resident_id("1988-03-08", "female")))
    other = _post(live_server, _patient("欧阳", "志强", "male", "1979-07-15",
                                        _resident_id("1979-07-15", "male")))
    mu_obs = _transaction(live_server, [_weight(mu["id"], 52.5 + i, f"2024-0{i + 1}-10")
                                        for i in range(3)])
    _transaction(live_server, [_weight(other["id"], 75.0 + i, f"2024-0{i + 1}-11")
                               for i in range(2)])

    chained = client.resources("Observation").search(subject__Patient__family="慕容").fetch()
    assert sorted(o.id for o in chained) == sorted(mu_obs)
    by_name = client.resources("Observation").search(subject__Patient__name="欧阳").fetch()
    assert len(by_name) == 2
    assert all(o["subject"]["reference"] == f"Patient/{other['id']}" for o in by_name)

    with_patient = client.resources("Observation").search(
        subject__Patient__family="慕容").include("Observation", "subject")
    raw = with_patient.fetch_raw()
    modes: dict[str, list[str]] = {}
    for entry in raw["entry"]:
        modes.setdefault(entry["search"]["mode"], []).append(
            f"{entry['resource']['resourceType']}/{entry['resource']['id']}")
    assert sorted(modes["match"]) == sorted(f"Observation/{o}" for o in mu_obs)
    assert modes["include"] == [f"Patient/{mu['id']}"]
    # fhirpy's fetch() keeps only the searched type.
    assert len(with_patient.fetch()) == 3

    rev = client.resources("Patient").search(_id=mu["id"]).revinclude(
        "Observation", "subject").fetch_raw()
    rev_types = sorted(e["resource"]["resourceType"] for e in rev["entry"])
    assert rev_types == ["Observation"] * 3 + ["Patient"]


def test_fhirpy_fetch_all_pages_and_count(live_server: LiveServer) -> None:
    client = _fhirpy(live_server)
    pat = _post(live_server, _patient("张", "桂兰", "female", "1950-12-24",
                                      _resident_id("1950-12-24", "female")))
    total = 47
    created = _transaction(live_server, [
        _weight(pat["id"], 50 + i / 10,
                f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}T08:{i:02d}:00+08:00")
        for i in range(total)])

    search = client.resources("Observation").search(subject=f"Patient/{pat['id']}").limit(10)
    first = search.fetch_raw()
    assert len(first["entry"]) == 10
    assert any(link["relation"] == "next" for link in first["link"])

    everything = search.fetch_all()
    assert len(everything) == total
    assert sorted(o.id for o in everything) == sorted(created)

    ordered = search.sort("date").fetch_all()
    dates = [o["effectiveDateTime"] for o in ordered]
    assert len(ordered) == total
    assert dates == sorted(dates)
    newest_first = search.sort("-date").fetch_all()
    assert [o["effectiveDateTime"] for o in newest_first] == sorted(dates, reverse=True)

    # fhirpy counts with _count=0 (plus its own _totalMethod hint) and reads Bundle.total.
    assert client.resources("Observation").search(subject=f"Patient/{pat['id']}").count() == total
    assert client.resources("Patient").search(family="张", given="桂兰").count() == 1


# --- fhirclient (SMART on FHIR) -----------------------------------------------------------------


def _fc_server(live: LiveServer) -> fc_server.FHIRServer:
    server = fc_server.FHIRServer(None, base_uri=live.base)
    server.session.headers.update(live.headers)
    return server


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fhirclient_create_read_and_search(live_server: LiveServer) -> None:
    srv = _fc_server(live_server)
    rid = _resident_id("1992-06-18", "female")
    patient = FcPatient()
    ident = Identifier()
    ident.system = RESIDENT_ID
    ident.value = rid
    patient.identifier = [ident]
    name = HumanName()
    name.family = "马"
    name.given = ["玉花"]
    name.text = "马玉花"
    name.use = "official"
    patient.name = [name]
    patient.gender = "female"
    patient.birthDate = FHIRDate("1992-06-18")

    created = patient.create(srv)
    assert created is not None
    assert created["resourceType"] == "Patient"
    pid = created["id"]

    read = FcPatient.read(pid, srv)
    assert read.id == pid
    assert read.name[0].text == "马玉花"
    assert read.name[0].family == "马"
    assert read.identifier[0].system == RESIDENT_ID
    assert read.identifier[0].value == rid
    assert read.birthDate.isostring == "1992-06-18"
    assert read.meta.versionId == "1"

    weights = _transaction(live_server, [_weight(pid, 58.0 + i, f"2024-05-0{i + 1}")
                                         for i in range(4)])
    found = FcObservation.where(struct={"subject": f"Patient/{pid}",
                                        "code": f"{LOINC}|29463-7"}).perform_resources(srv)
    observations = [r for r in found if r.resource_type == "Observation"]
    assert sorted(o.id for o in observations) == sorted(weights)
    assert {o.valueQuantity.unit for o in observations} == {"kg"}
    assert all(o.subject.reference == f"Patient/{pid}" for o in observations)

    none = FcObservation.where(struct={"subject": f"Patient/{pid}",
                                       "code": f"{LOINC}|8302-2"}).perform_resources(srv)
    assert [r for r in none if r.resource_type == "Observation"] == []

    by_identifier = FcPatient.where(struct={"identifier": f"{RESIDENT_ID}|{rid}"}
                                    ).perform_resources(srv)
    assert [p.id for p in by_identifier if p.resource_type == "Patient"] == [pid]
