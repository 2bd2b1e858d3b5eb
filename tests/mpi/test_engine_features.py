"""Features from FHIR Patients and blocking keys."""

from __future__ import annotations

from datetime import date
from typing import Any

from gansu_health.mpi.engine import blocking_keys, features_from_patient
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM, make_resident_id

BC = "https://gansu-health.cn/fhir/sid/birth-certificate"
DIVISION = "https://gansu-health.cn/fhir/StructureDefinition/administrative-division"
ID18 = make_resident_id("620102", date(1980, 5, 17), 123, "male")


def patient(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": RESIDENT_ID_SYSTEM, "value": ID18}],
        "name": [{"use": "official", "family": "張", "given": ["建國"]}],
        "gender": "male",
        "birthDate": "1980-05-17",
        "telecom": [{"system": "phone", "value": "+86 138 0013 8000", "use": "mobile"}],
        "address": [{"use": "home", "text": "甘肃省兰州市城关区人民路1号",
                     "extension": [{"url": DIVISION, "valueCoding": {"code": "620102"}}]}],
    }  # fmt: skip
    base.update(extra)
    return base


def test_features_from_patient() -> None:
    f = features_from_patient(patient())
    assert f.resident_id == ID18 and f.resident_id_valid
    assert (RESIDENT_ID_SYSTEM, ID18) in f.identifiers
    assert (f.family, f.given, f.family_pinyin, f.given_pinyin) == (
        "张",
        "建国",
        "zhang",
        "jian guo",
    )
    assert f.birth_date == date(1980, 5, 17) and f.sex == "male"
    assert f.phone == "13800138000" and f.region == "620102"
    assert f.address is not None and f.address.startswith("甘肃省兰州市")


def test_fifteen_digit_id_is_upgraded() -> None:
    old = ID18[:6] + ID18[8:17]
    f = features_from_patient(patient(identifier=[{"system": RESIDENT_ID_SYSTEM, "value": old}]))
    assert f.resident_id == ID18 and f.resident_id_valid


def test_birth_certificate_and_other_identifiers_and_text_name() -> None:
    f = features_from_patient(
        patient(
            identifier=[
                {"system": BC, "value": "r620123456"},
                {"system": "urn:mrn", "value": " 7 "},
            ],
            name=[{"text": "Ouyang Nana"}, {"use": "official", "text": "欧阳娜娜"}],
            birthDate=None, gender=None, address=[],
        )
    )  # fmt: skip
    assert f.resident_id is None and not f.resident_id_valid
    assert f.identifiers == ((BC, "R620123456"), ("urn:mrn", "7"))
    assert (f.family, f.given, f.family_pinyin) == ("欧阳", "娜娜", "ou yang")
    assert f.birth_date is None and f.sex is None and f.region is None


def test_id_fills_missing_birth_date_sex_and_region() -> None:
    f = features_from_patient(patient(birthDate=None, gender=None, address=[]))
    assert (f.birth_date, f.sex, f.region) == (date(1980, 5, 17), "male", "620102")


def test_invalid_id_is_kept_but_flagged() -> None:
    typo = ID18[:5] + str((int(ID18[5]) + 1) % 10) + ID18[6:]
    f = features_from_patient(patient(identifier=[{"system": RESIDENT_ID_SYSTEM, "value": typo}]))
    assert f.resident_id == typo and not f.resident_id_valid


def test_blocking_keys_are_short_and_shared_by_variants() -> None:
    a = features_from_patient(patient())
    b = features_from_patient(
        patient(name=[{"text": "章建国"}], identifier=[], telecom=[])
    )  # homophone surname, no ID, no phone
    keys_a, keys_b = set(blocking_keys(a)), set(blocking_keys(b))
    assert f"id:{ID18}" in keys_a
    assert "bdfp:19800517:zhang" in keys_a & keys_b
    assert "bdgi:19800517:jg" in keys_a & keys_b
    assert "ph:13800138000" in keys_a
    assert all(len(key) < 120 for key in keys_a | keys_b)
    assert not any(key.startswith("nm:") for key in keys_a)  # Hanzi names alone are too common
