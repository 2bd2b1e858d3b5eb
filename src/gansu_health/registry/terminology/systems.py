"""Canonical URLs of the platform's code systems and value sets (the demo uses the same ones)."""

from __future__ import annotations

from typing import Final

BASE: Final = "https://gansu-health.cn/fhir"
CS_PREFIX: Final = f"{BASE}/CodeSystem/"
VS_PREFIX: Final = f"{BASE}/ValueSet/"

CS_SEX: Final = f"{CS_PREFIX}sex"
CS_ADMIN_DIVISION: Final = f"{CS_PREFIX}administrative-division"
CS_ETHNICITY: Final = f"{CS_PREFIX}ethnicity"
CS_IDENTITY_DOCUMENT: Final = f"{CS_PREFIX}identity-document-type"
CS_DEPARTMENT: Final = f"{CS_PREFIX}department"
CS_NIP_VACCINE: Final = f"{CS_PREFIX}nip-vaccine"
CS_INSTITUTION_LEVEL: Final = f"{CS_PREFIX}institution-level"
CS_INSTITUTION_TYPE: Final = f"{CS_PREFIX}institution-type"
CS_PRACTITIONER_TITLE: Final = f"{CS_PREFIX}practitioner-title"
CS_QUALIFICATION: Final = f"{CS_PREFIX}practitioner-qualification"
CS_DESIGNATION_USE: Final = f"{CS_PREFIX}designation-use"
ICD10: Final = "http://hl7.org/fhir/sid/icd-10"

EXT_ADMIN_DIVISION: Final = f"{BASE}/StructureDefinition/administrative-division"
SID_INSTITUTION: Final = f"{BASE}/sid/institution"
SID_PLATFORM_NODE: Final = f"{BASE}/sid/platform-node"
SID_PHYSICIAN_LICENCE: Final = f"{BASE}/sid/physician-licence"
V2_0203: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
# the identifier systems of the identity documents (codes of CS_IDENTITY_DOCUMENT): the resident
# identity card keeps its national OID; the others are the platform's own naming systems
IDENTITY_DOCUMENT_SYSTEMS: Final = {
    "urn:oid:2.16.156.10011.1.3": "01",  # 居民身份证 (GB 11643)
    f"{BASE}/sid/household-register": "02",
    f"{BASE}/sid/passport": "03",
    f"{BASE}/sid/military-officer-card": "04",
    f"{BASE}/sid/driver-licence": "05",
    f"{BASE}/sid/hk-macao-travel-permit": "06",
    f"{BASE}/sid/taiwan-travel-permit": "07",
    f"{BASE}/sid/foreigner-permanent-residence": "90",
    f"{BASE}/sid/birth-certificate": "91",
    f"{BASE}/sid/other-identity-document": "99",
}
# v2-0203 identifier types that name an identity document (national id, passport, driver's
# licence, birth certificate, permanent resident card, citizenship card)
V2_IDENTITY_DOCUMENT_TYPES: Final = frozenset({"NI", "PPN", "DL", "BCT", "PRC", "CZ"})


def is_ours(system: str | None) -> bool:
    """Tell whether a coding system is one of the platform's own code systems."""
    return bool(system) and str(system).startswith(CS_PREFIX)
