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


def is_ours(system: str | None) -> bool:
    """Tell whether a coding system is one of the platform's own code systems."""
    return bool(system) and str(system).startswith(CS_PREFIX)
