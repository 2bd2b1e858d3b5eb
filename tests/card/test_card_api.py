"""Issue, codes, verification rules (expired, replayed, revoked, forged), static codes with a
second factor, revoke and reissue, the usage log, and who may do what — on both databases."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import httpx
from tests.card.conftest import World, person, reason, resident, value
from tests.conftest import LiveServer, mint_token
from tests.mpi.test_service_support import golden_of, operation
from tests.scheduling.conftest import Clock

from gansu_health.card.operations import verifier_of
from gansu_health.card.views import CARD_ID_SYSTEM
from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.oauth.repository import ClientRow, insert_client
from gansu_health.mpi.settings import EMPI_SYSTEM


def _issue(world: World, patient: str, who: str = "mother", status: int | None = None) -> str:
    """The patient's card id (issued now, or already held when ``status`` is None)."""
    resp = world.client.post(f"/fhir/Patient/{patient}/$card-issue", headers=world.headers(who))
    assert resp.status_code == (status or resp.status_code) and resp.status_code in (200, 201)
    return str(value(resp.json(), "cardId"))


def test_one_card_per_person_tied_to_the_enterprise_id(world: World, clock: Clock) -> None:
    issued = world.call("mother", f"Patient/{world.mother_b}/$card-issue", 201)
    card_id = value(issued, "cardId")
    assert card_id.startswith("GS620000") and len(card_id) == 19
    # asked again, from the hospital A record of the same person (the MPI links them): same card
    again = world.call("operator", f"Patient/{world.mother_a}/$card-issue", 200)
    assert value(again, "cardId") == card_id
    person = world.client.get(f"/fhir/{value(issued, 'person')}").json()
    empi = next(i["value"] for i in person["identifier"] if i["system"] == EMPI_SYSTEM
                and i.get("use") == "official")
    assert value(issued, "enterpriseId") == empi
    links = {lk["target"]["reference"] for lk in person["link"]}
    assert {f"Patient/{world.mother_a}", f"Patient/{world.mother_b}"} <= links
    # a guardian asks for the child's card; a stranger's card is not hers to ask for
    assert _issue(world, world.child) != card_id
    refused = world.call("mother", f"Patient/{world.stranger}/$card-issue", 403)
    assert "card holder" in refused["issue"][0]["diagnostics"]


def test_dynamic_code_verifies_at_any_hospital_with_its_local_patient(
        world: World, clock: Clock) -> None:
    _issue(world, world.mother_b)
    answer = world.call("registrar", "Patient/$card-verify", code=world.code(world.mother_b),
                        step="registration")
    assert value(answer, "patient") == f"Patient/{world.mother_a}"  # hospital A's record
    assert value(answer, "organization") == f"Organization/{world.org_a}"
    assert value(answer, "name") == "李秀英" and value(answer, "gender") == "female"
    assert value(answer, "birthDate") == "1985-03-02"
    masked = value(answer, "residentId")
    assert masked == world.mother_id_number[:3] + "*" * 14 + world.mother_id_number[-1]
    assert value(answer, "step") == "registration" and value(answer, "codeKind") == "dynamic"
    at_b = world.call("registrar-b", "Patient/$card-verify", code=world.code(world.mother_b))
    assert value(at_b, "patient") == f"Patient/{world.mother_b}"
    assert value(at_b, "enterpriseId") == value(answer, "enterpriseId")


def test_replayed_expired_forged_and_malformed_codes_are_refused(
        world: World, clock: Clock) -> None:
    _issue(world, world.mother_b)
    code = world.code(world.mother_b)
    world.call("nurse", "Patient/$card-verify", code=code)
    why, text = reason(world.call("nurse", "Patient/$card-verify", 409, code=code))
    assert why == "replayed" and "already used at 2027-03-01 10:00:00" in text
    assert f"Organization/{world.org_a}" in text
    # a code lives 60 s
    stale = world.code(world.mother_b)
    clock.advance(seconds=59)
    fresh_enough = world.code(world.mother_b)
    clock.advance(seconds=2)
    why, text = reason(world.call("nurse", "Patient/$card-verify", 422, code=stale))
    assert why == "expired" and "expired at 2027-03-01 10:01:00" in text and "60 s" in text
    world.call("nurse", "Patient/$card-verify", code=fresh_enough)
    # altered bytes: the signature no longer verifies
    raw = bytearray(base64.b32decode(_pad(world.code(world.mother_b).split(":", 1)[1])))
    for index in (20, len(raw) - 70, len(raw) - 1):  # ciphertext, tag, signature
        forged = bytearray(raw)
        forged[index] ^= 0x01
        text_code = "GSEHC1:" + base64.b32encode(bytes(forged)).decode().rstrip("=")
        why, text = reason(world.call("nurse", "Patient/$card-verify", 422, code=text_code))
        assert why == "forged" and "signature does not verify" in text
    why, text = reason(world.call("nurse", "Patient/$card-verify", 400, code="hello"))
    assert why == "malformed"


def _pad(text: str) -> str:
    return text + "=" * (-len(text) % 8)


def test_the_lifetime_is_configurable(world: World, clock: Clock) -> None:
    _issue(world, world.mother_b)
    cards = verifier_of(world.client.app.state.fhir).cards  # type: ignore[attr-defined]
    cards.dynamic_ttl_s = 120
    try:
        made = world.call("mother", f"Patient/{world.mother_b}/$card-code")
        assert value(made, "lifetime") == 120
        code = value(made, "code")
    finally:
        cards.dynamic_ttl_s = 60
    clock.advance(seconds=90)
    world.call("doctor", "Patient/$card-verify", code=code)


def test_static_code_needs_the_second_factor(world: World, clock: Clock) -> None:
    _issue(world, world.mother_b)
    static = world.code(world.mother_b, kind="static")
    assert world.code(world.mother_b, kind="static") != static  # any signed copy is good
    why, _ = reason(world.call("registrar", "Patient/$card-verify", 422, code=static))
    assert why == "factor-required"
    why, text = reason(world.call("registrar", "Patient/$card-verify", 422, code=static,
                                  factor="000000"))
    assert why == "factor-wrong" and "4 tries left" in text
    last6 = world.mother_id_number[-6:]
    for _ in range(2):  # static codes are reusable: no replay guard
        answer = world.call("registrar", "Patient/$card-verify", code=static, factor=last6)
        assert value(answer, "codeKind") == "static"
    # with a PIN set, the PIN is the factor
    world.call("mother", f"Patient/{world.mother_b}/$card-issue", 200, pin="135790")
    world.call("registrar", "Patient/$card-verify", 422, code=static, factor=last6)
    world.call("registrar", "Patient/$card-verify", code=static, factor="135790")
    for _ in range(4):
        world.call("registrar", "Patient/$card-verify", 422, code=static, factor="999999")
    why, text = reason(world.call("registrar", "Patient/$card-verify", 422, code=static,
                                  factor="999999"))
    assert "locked for 15 minutes" in text
    why, text = reason(world.call("registrar", "Patient/$card-verify", 429, code=static,
                                  factor="135790"))
    assert why == "factor-locked" and "locked until 2027-03-01 10:15:00" in text
    clock.advance(minutes=15)
    world.call("registrar", "Patient/$card-verify", code=static, factor="135790")
    world.call("mother", f"Patient/{world.mother_b}/$card-issue", 400, pin="12ab")


def test_revoke_and_reissue_stop_the_old_card_at_once(world: World, clock: Clock) -> None:
    child_card = _issue(world, world.child)
    dynamic = world.code(world.child)
    static = world.code(world.child, kind="static")
    answer = world.call("mother", f"Patient/{world.child}/$card-revoke", reason="lost")
    revoked, new = value(answer, "revoked"), value(answer, "card")
    new_id = next(p["valueIdentifier"]["value"] for p in new if p["name"] == "cardId")
    assert new_id != child_card
    assert any(p["name"] == "replacedBy" and p["valueIdentifier"]["value"] == new_id
               for p in revoked)
    for code, factor in ((dynamic, None), (static, "anything")):
        why, text = reason(world.call("registrar", "Patient/$card-verify", 422, code=code,
                                      **({"factor": factor} if factor else {})))
        assert why == "revoked" and "(lost)" in text and new_id in text
    fresh = world.call("registrar", "Patient/$card-verify", code=world.code(world.child))
    assert value(fresh, "cardId") == new_id
    assert _issue(world, world.child, status=200) == new_id
    # without a replacement the person holds no card until they ask again
    world.call("mother", f"Patient/{world.child}/$card-revoke", reason="damaged",
               reissue=False)
    world.call("mother", f"Patient/{world.child}/$card-code", 404)
    assert _issue(world, world.child, status=201) not in (child_card, new_id)


def test_usage_log_is_read_by_the_holder(world: World, clock: Clock) -> None:
    _issue(world, world.mother_b)
    code = world.code(world.mother_b)
    world.call("registrar", "Patient/$card-verify", code=code, step="payment")
    world.call("registrar", "Patient/$card-verify", 409, code=code, step="payment")
    log = world.call("mother", f"Patient/{world.mother_b}/$card-usage", _count=2)
    uses = [p["part"] for p in log["parameter"] if p["name"] == "use"]
    assert len(uses) == 2
    latest = {p["name"]: p for p in uses[0]}
    assert latest["outcome"]["valueCoding"]["code"] == "replayed"
    assert latest["step"]["valueCoding"] == {
        "system": "https://gansu-health.cn/fhir/CodeSystem/card-usage-step",
        "code": "payment", "display": "缴费"}
    accepted = {p["name"]: p for p in uses[1]}
    assert accepted["outcome"]["valueCode"] == "accepted"
    assert accepted["organization"]["valueReference"]["reference"] == (
        f"Organization/{world.org_a}")
    assert accepted["patient"]["valueReference"]["reference"] == f"Patient/{world.mother_a}"
    assert accepted["terminal"]["valueString"].startswith("staff:")
    cards = [p for p in log["parameter"] if p["name"] == "card"]
    assert cards and cards[0]["part"][0]["valueIdentifier"]["system"] == CARD_ID_SYSTEM
    # the same log from the hospital record of the same person, and refused to a stranger
    other = world.call("mother", f"Patient/{world.mother_a}/$card-usage", _count=2)
    assert [p for p in other["parameter"] if p["name"] == "use"] == [
        p for p in log["parameter"] if p["name"] == "use"]
    world.call("stranger", f"Patient/{world.mother_b}/$card-usage", 403)
    world.call("pharmacist", f"Patient/{world.mother_b}/$card-usage", 403)


def test_card_desk_sees_only_its_own_institutions_uses(world: World, clock: Clock) -> None:
    _issue(world, world.mother_b)
    world.call("registrar", "Patient/$card-verify", code=world.code(world.mother_b),
               step="registration")
    clock.advance(seconds=61)
    world.call("registrar-b", "Patient/$card-verify", code=world.code(world.mother_b),
               step="payment")

    def orgs(who: str) -> tuple[str, list[str]]:
        log = world.call(who, f"Patient/{world.mother_b}/$card-usage", _count=10)
        shown = next(p["valueString"] for p in log["parameter"] if p["name"] == "shown")
        return shown, [u["valueReference"]["reference"] for p in log["parameter"]
                       if p["name"] == "use" for u in p["part"] if u["name"] == "organization"]

    everyone, mine, theirs = orgs("mother"), orgs("registrar"), orgs("registrar-b")
    a, b = f"Organization/{world.org_a}", f"Organization/{world.org_b}"
    assert everyone[0] == "all" and everyone[1][:2] == [b, a]  # the world is shared: newest first
    assert mine[0] == a and mine[1] and set(mine[1]) == {a}
    assert theirs[0] == b and theirs[1] and set(theirs[1]) == {b}


def test_only_terminals_verify(world: World, clock: Clock) -> None:
    _issue(world, world.mother_b)
    code = world.code(world.mother_b)
    refused = world.call("stranger", "Patient/$card-verify", 403, code=code)
    assert "hospital terminals" in refused["issue"][0]["diagnostics"]
    world.call("mother", "Patient/$card-verify", 403, code=code)  # not even her own
    world.call("pharmacist", "Patient/$card-verify", 403, code=code)
    wrong_org = world.call("nurse", "Patient/$card-verify", 403, code=code,
                           organization=f"Organization/{world.org_b}")
    assert f"You act for Organization/{world.org_a}" in wrong_org["issue"][0]["diagnostics"]
    world.call("stranger", f"Patient/{world.mother_b}/$card-code", 403)
    # the refusals consumed nothing: the code still verifies once
    world.call("doctor", "Patient/$card-verify", code=code)
    # system clients and operators name the terminal's institution
    op = world.call("operator", "Patient/$card-verify", code=world.code(world.mother_b),
                    organization=f"Organization/{world.org_b}")
    assert value(op, "patient") == f"Patient/{world.mother_b}"


def test_qr_images_and_public_keys(world: World, clock: Clock) -> None:
    _issue(world, world.mother_b)
    headers = world.headers("mother")
    svg = world.client.get(f"/fhir/Patient/{world.mother_b}/$card-code",
                           params={"image": "svg"}, headers=headers)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content and svg.headers["cache-control"] == "no-store"
    png = world.client.get(f"/fhir/Patient/{world.mother_b}/$card-code",
                           params={"image": "png", "kind": "static", "scale": "3"},
                           headers=headers)
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    keys = world.client.get("/fhir/$card-keys", headers=headers).json()
    first = keys["parameter"][0]["part"]
    assert first[1]["valueCode"] == "SM2-SM3" and len(first[2]["valueString"]) == 130


def test_expiry_is_checked_against_the_injected_clock(world: World, clock: Clock) -> None:
    _issue(world, world.mother_b)
    code = world.code(world.mother_b)
    clock.set(clock.moment + timedelta(hours=1))
    assert reason(world.call("doctor", "Patient/$card-verify", 422, code=code))[0] == "expired"


def test_concurrent_scans_of_one_code_accept_exactly_one(
        world: World, clock: Clock, live_server: LiveServer) -> None:
    _issue(world, world.mother_b)
    code = world.code(world.mother_b)
    body = {"resourceType": "Parameters", "parameter": [{"name": "code", "valueString": code}]}

    def scan(_: int) -> int:
        resp = httpx.post(f"{live_server.base}/Patient/$card-verify", json=body, timeout=30,
                          headers=world.headers("registrar"))
        return resp.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(scan, range(8)))
    assert statuses == [200] + [409] * 7
    log = world.call("mother", f"Patient/{world.mother_b}/$card-usage", _count=8)
    outcomes = [next(p for p in u["part"] if p["name"] == "outcome")
                for u in log["parameter"] if u["name"] == "use"]
    assert sum(o.get("valueCode") == "accepted" for o in outcomes) == 1


def test_unknown_and_unlinked_patients(world: World, clock: Clock) -> None:
    refused = world.call("operator", "Patient/no-such-patient/$card-issue", 404)
    assert "Patient/no-such-patient is not known" in refused["issue"][0]["diagnostics"]
    world.call("operator", "Patient/no-such-patient/$card-code", 404)


def test_a_hospital_system_client_scans_for_its_registered_institution(
        world: World, clock: Clock, settings: Settings) -> None:
    _issue(world, world.mother_b)
    engine = build_engine(settings.database_url, settings)
    with write_transaction(engine) as conn:
        insert_client(conn, ClientRow("his-b-client", "乙县医院 HIS", "system", None, world.org_b,
                                      "system/*.rs", (), None, "private_key_jwt", 0, False))
    engine.dispose()
    world.tokens["his-b"] = mint_token(settings, "system/Patient.rs system/Appointment.rs",
                                       kind="system", subject="his-b", ttl_s=10**8)
    answer = world.call("his-b", "Patient/$card-verify", code=world.code(world.mother_b),
                        step="dispensing")
    assert value(answer, "patient") == f"Patient/{world.mother_b}"
    assert value(answer, "organization") == f"Organization/{world.org_b}"
    world.call("his-b", "Patient/$card-verify", 403, code=world.code(world.mother_b),
               organization=f"Organization/{world.org_a}")


def test_a_merge_leaves_one_card_and_its_undo_restores_both(world: World, clock: Clock) -> None:
    api = world.client.app.state.fhir  # type: ignore[attr-defined]
    born = date(1991, 7, 7)
    first = world.client.post("/fhir/Patient", json=person(
        world.org_b, "孙", "丽", born, resident(born))).json()
    second = world.client.post("/fhir/Patient", json=person(
        world.org_a, "孙", "莉", born, resident(born))).json()
    gone, kept = golden_of(world.client, first), golden_of(world.client, second)
    assert gone["id"] != kept["id"]
    card_gone = _issue(world, first["id"], "operator")
    card_kept = _issue(world, second["id"], "operator")
    old_code = world.code(first["id"], "operator")

    merged = operation(world.client, "mdm-merge-golden-resources",
                       fromGoldenResourceId=f"Person/{gone['id']}",
                       toGoldenResourceId=f"Person/{kept['id']}")
    api.events.deliver(api.engine, api.settings.node_id)
    why, text = reason(world.call("registrar", "Patient/$card-verify", 422, code=old_code))
    assert why == "revoked" and "(merged)" in text and card_kept in text
    # the person now has one card, whichever hospital's record asks for it
    assert _issue(world, first["id"], "operator", status=200) == card_kept
    fresh = world.call("registrar", "Patient/$card-verify", code=world.code(first["id"],
                                                                            "operator"))
    assert value(fresh, "cardId") == card_kept

    operation(world.client, "mdm-unmerge", mergeId=str(merged["parameter"][0]["valueInteger"]))
    api.events.deliver(api.engine, api.settings.node_id)
    assert _issue(world, first["id"], "operator", status=200) == card_gone
    assert _issue(world, second["id"], "operator", status=200) == card_kept
    back = world.call("registrar", "Patient/$card-verify", code=world.code(first["id"],
                                                                           "operator"))
    assert value(back, "cardId") == card_gone
