"""Normalised demographics of one Patient record, and multi-pass blocking keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from gansu_health.mpi.engine.text import (
    fold,
    fold_name,
    given_pinyin,
    has_hanzi,
    initials,
    normalise_phone,
    split_full_name,
    surname_pinyin,
)
from gansu_health.mpi.resident_id import (
    RESIDENT_ID_SYSTEM,
    ResidentIdError,
    is_valid_resident_id,
    parse_resident_id,
    upgrade_15_to_18,
)

DIVISION_EXTENSION_SUFFIX = "administrative-division"


@dataclass(frozen=True, slots=True)
class Features:
    """Normalised demographics of one Patient record."""

    resident_id: str | None
    resident_id_valid: bool
    identifiers: tuple[tuple[str, str], ...]
    family: str
    given: str
    family_pinyin: str
    given_pinyin: str
    birth_date: date | None
    sex: str | None
    phone: str | None
    region: str | None
    address: str | None


def normalise_resident_id(value: str | None) -> tuple[str | None, bool]:
    """Return (18-character number, valid); 15-digit numbers are upgraded first."""
    if not value:
        return None, False
    number = "".join(fold(value).upper().split())
    if len(number) == 15 and number.isdigit():
        try:
            number = upgrade_15_to_18(number)
        except ResidentIdError:
            return number, False
    return number, is_valid_resident_id(number)


def _identifier_value(value: str) -> str:
    return "".join(fold(value).upper().split())


def make_features(
    *,
    family: str = "",
    given: str = "",
    birth_date: date | None = None,
    sex: str | None = None,
    phone: str | None = None,
    resident_id: str | None = None,
    identifiers: Iterable[tuple[str, str]] = (),
    region: str | None = None,
    address: str | None = None,
) -> Features:
    """Build Features from raw values, folding and normalising every field."""
    number, valid = normalise_resident_id(resident_id)
    idents = {(system, _identifier_value(value)) for system, value in identifiers if value}
    if number:
        idents.add((RESIDENT_ID_SYSTEM, number))
    family_folded, given_folded = fold_name(family), fold_name(given)
    if valid and number:  # the ID carries the region, birth date and sex
        parsed = parse_resident_id(number)
        region = region or parsed.region_code
        birth_date = birth_date or parsed.birth_date
        sex = sex or parsed.sex
    folded_address = fold(address) if address else None
    return Features(
        resident_id=number,
        resident_id_valid=valid,
        identifiers=tuple(sorted(idents)),
        family=family_folded,
        given=given_folded,
        family_pinyin=surname_pinyin(family_folded),
        given_pinyin=given_pinyin(given_folded),
        birth_date=birth_date,
        sex=sex if sex in ("male", "female") else None,
        phone=normalise_phone(phone),
        region=region or None,
        address=folded_address or None,
    )


def _pick_name(names: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    hanzi = [n for n in names if has_hanzi(str(n.get("text", "")) + str(n.get("family", "")))]
    pool = hanzi or names
    for use in ("official", "usual", None):
        for name in pool:
            if use is None or name.get("use") == use:
                return name
    return None


def _name_parts(patient: Mapping[str, Any]) -> tuple[str, str]:
    name = _pick_name(list(patient.get("name") or []))
    if name is None:
        return "", ""
    family = str(name.get("family") or "")
    given_parts = [str(part) for part in name.get("given") or []]
    if not family and not given_parts:
        return split_full_name(str(name.get("text") or ""))
    joiner = "" if has_hanzi(family + "".join(given_parts)) else " "
    return family, joiner.join(given_parts)


def _phone(patient: Mapping[str, Any]) -> str | None:
    telecoms = [t for t in patient.get("telecom") or [] if t.get("system") in ("phone", "sms")]
    for contact in patient.get("contact") or []:
        telecoms += [t for t in contact.get("telecom") or [] if t.get("system") == "phone"]
    ranked = sorted(telecoms, key=lambda t: 0 if t.get("use") == "mobile" else 1)
    for telecom in ranked:
        phone = normalise_phone(str(telecom.get("value") or ""))
        if phone:
            return phone
    return None


@cache
def _district_codes() -> dict[str, str]:
    from gansu_health.demo.regions import gansu_region_codes

    return {name: code for code, name in gansu_region_codes().items() if name != "市辖区"}


def _address(patient: Mapping[str, Any]) -> tuple[str | None, str | None]:
    addresses = list(patient.get("address") or [])
    if not addresses:
        return None, None
    home = next((a for a in addresses if a.get("use") == "home"), addresses[0])
    region = None
    for extension in home.get("extension") or []:
        if str(extension.get("url", "")).endswith(DIVISION_EXTENSION_SUFFIX):
            region = (extension.get("valueCoding") or {}).get("code") or extension.get("valueCode")
    if region is None:
        region = _district_codes().get(fold(str(home.get("district") or "")))
    text = home.get("text") or "".join(
        str(part)
        for part in (home.get("city"), home.get("district"), *(home.get("line") or []))
        if part
    )
    return (str(region) if region else None), (str(text) or None)


def _birth_date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def features_from_patient(patient: Mapping[str, Any]) -> Features:
    """Extract and normalise matching features from a FHIR R4 Patient resource (a dict)."""
    resident_id = None
    others: list[tuple[str, str]] = []
    for identifier in patient.get("identifier") or []:
        system, value = str(identifier.get("system") or ""), str(identifier.get("value") or "")
        if not value:
            continue
        if system == RESIDENT_ID_SYSTEM and resident_id is None:
            resident_id = value
        elif system != RESIDENT_ID_SYSTEM:
            others.append((system, value))
    family, given = _name_parts(patient)
    region, address = _address(patient)
    return make_features(
        family=family,
        given=given,
        birth_date=_birth_date(patient.get("birthDate")),
        sex=patient.get("gender"),
        phone=_phone(patient),
        resident_id=resident_id,
        identifiers=others,
        region=region,
        address=address,
    )


def blocking_keys(f: Features) -> list[str]:
    """Multi-pass blocking keys: identifiers, birth date with names/region, phone, full name."""
    keys = [f"ident:{s}|{v}" for s, v in f.identifiers if s != RESIDENT_ID_SYSTEM]
    if f.resident_id:
        keys.append(f"id:{f.resident_id}")
    family = f.family_pinyin.replace(" ", "")
    given = f.given_pinyin.replace(" ", "")
    if f.birth_date is not None:
        day = f.birth_date.strftime("%Y%m%d")
        if family:
            keys.append(f"bdfp:{day}:{family}")
        if given:
            keys.append(f"bdgi:{day}:{initials(f.given_pinyin)}")
        if f.region:
            keys.append(f"rgbd:{f.region}:{day}")
    if f.phone:
        keys.append(f"ph:{f.phone}")
    if given and family:
        if not has_hanzi(f.family + f.given):  # Hanzi full names are too common to block on
            keys += [
                f"nm:{family}:{given}",
                f"fpgi:{family}:{given[0]}",
                f"gnfi:{given}:{family[0]}",
            ]
            if f.birth_date is not None:
                keys.append(f"yrfp:{f.birth_date.year}:{family}")
        if f.region:
            keys.append(f"rgfp:{f.region}:{family}:{initials(f.given_pinyin)}")
    return keys
