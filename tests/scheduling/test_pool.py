"""The pool: bookable doctors, weekly templates, publication, Slots, policy, guards."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.scheduling.conftest import Clock, diagnostics, op

from gansu_health.demo.registry import Clinician
from gansu_health.scheduling.pool import spread


def _slots(client: TestClient, schedule: str) -> list[dict[str, Any]]:
    resp = client.get(f"/fhir/Slot?schedule=Schedule/{schedule}&_count=500&_sort=start")
    assert resp.status_code == 200, resp.text
    return [e["resource"] for e in resp.json().get("entry", [])]


def test_spread_interleaves_channels_in_proportion() -> None:
    order = spread({"online": 12, "window": 4, "referral": 4})
    assert len(order) == 20 and order.count("window") == 4 and order.count("referral") == 4
    assert "window" in order[:6] and "referral" in order[:6] and "window" in order[-6:]


def test_doctor_becomes_bookable_with_weekly_template_and_published_sessions(
        client: TestClient, doctors: list[Clinician], clock: Clock) -> None:
    doctor = doctors[0]
    schedule = client.post(f"/fhir/PractitionerRole/{doctor.role_id}/$bookable").json()
    assert schedule["resourceType"] == "Schedule"
    actors = [a["reference"] for a in schedule["actor"]]
    assert f"PractitionerRole/{doctor.role_id}" in actors
    assert f"HealthcareService/{doctor.service_id}" in actors
    sid = schedule["id"]
    # Wednesday mornings: 8 slots of 30 min × 3 numbers = 24 = 16 online + 4 window + 4 referral
    op(client, f"Schedule/{sid}/$template", weekday=3, period="morning", start="08:00",
       end="12:00", slotMinutes=30, perSlot=3, quota_online=16, quota_window=4,
       quota_referral=4)
    created = op(client, f"Schedule/{sid}/$publish")
    # 7-day horizon + 14-day referral lead from Monday 2027-03-01: Wednesdays 3, 10, 17
    assert created["parameter"][0]["valueInteger"] == 3
    again = op(client, f"Schedule/{sid}/$publish")
    assert again["parameter"][0]["valueInteger"] == 0  # idempotent
    slots = _slots(client, sid)
    assert len(slots) == 24
    first = slots[0]
    assert first["status"] == "free" and first["start"] == "2027-03-03T08:00:00+08:00"
    assert first["end"] == "2027-03-03T08:30:00+08:00" and first["overbooked"] is False
    schedule = client.get(f"/fhir/Schedule/{sid}").json()
    assert schedule["planningHorizon"]["start"].startswith("2027-03-01")


def test_template_rules_name_the_field(client: TestClient, doctors: list[Clinician]) -> None:
    sid = client.post(f"/fhir/PractitionerRole/{doctors[1].role_id}/$bookable").json()["id"]
    wide = op(client, f"Schedule/{sid}/$template", 422, weekday=1, period="morning",
              slotMinutes=60, perSlot=2)
    assert wide["issue"][0]["expression"] == ["slotMinutes"]
    assert "at most 30" in diagnostics(wide)
    bad_sum = op(client, f"Schedule/{sid}/$template", 422, weekday=1, period="morning",
                 slotMinutes=30, perSlot=2, quota_online=10)
    assert bad_sum["issue"][0]["expression"] == ["quota"]
    assert "16 numbers" in diagnostics(bad_sum)
    uneven = op(client, f"Schedule/{sid}/$template", 422, weekday=1, period="morning",
                start="08:00", end="11:50", slotMinutes=30)
    assert uneven["issue"][0]["expression"] == ["end"]


def test_policy_is_data_per_institution(client: TestClient, doctors: list[Clinician]) -> None:
    org = "gs-620100-h01"
    effective = op(client, f"Organization/{org}/$scheduling-policy")
    values = {p["name"]: next(v for k, v in p.items() if k.startswith("value"))
              for p in effective["parameter"]}
    assert values["release_time"] == "15:00" and values["horizon_days"] == 7
    assert values["cancel_cutoff_time"] == "16:00" and values["per_department_per_day"] == 1
    assert values["noshow_ladder_days"] == "[30,60,90]"
    changed = op(client, f"Organization/{org}/$scheduling-policy", horizon_days=14,
                 release_time="07:00")
    values = {p["name"]: next(v for k, v in p.items() if k.startswith("value"))
              for p in changed["parameter"]}
    assert values["horizon_days"] == 14 and values["release_time"] == "07:00"
    wrong = op(client, f"Organization/{org}/$scheduling-policy", 422, horizon_days=400)
    assert wrong["issue"][0]["expression"] == ["policy.horizon_days"]
    op(client, f"Organization/{org}/$scheduling-policy", horizon_days=7, release_time="15:00")


def test_pool_resources_validate_and_cannot_be_written_directly(
        client: TestClient, doctors: list[Clinician], clock: Clock) -> None:
    sid = client.post(f"/fhir/PractitionerRole/{doctors[2].role_id}/$bookable").json()["id"]
    op(client, f"Schedule/{sid}/$session", date="2027-03-02", period="afternoon", perSlot=2)
    slot = _slots(client, sid)[0]
    api = client.app.state.fhir  # type: ignore[attr-defined]
    api.service.validate(dict(slot), "Slot")
    api.service.validate(client.get(f"/fhir/Schedule/{sid}").json(), "Schedule")
    slot["status"] = "busy"
    resp = client.put(f"/fhir/Slot/{slot['id']}", json=slot)
    assert resp.status_code == 422 and "booking operations" in diagnostics(resp.json())
    assert client.delete(f"/fhir/Slot/{slot['id']}").status_code == 422
    assert client.get(f"/fhir/Slot/{slot['id']}").json()["status"] == "free"
    foreign = client.post("/fhir/Slot", json={
        "resourceType": "Slot", "schedule": {"reference": "Schedule/elsewhere"},
        "status": "free", "start": "2027-03-02T08:00:00+08:00",
        "end": "2027-03-02T08:30:00+08:00"})
    assert foreign.status_code == 201  # other Slots stay ordinary resources
