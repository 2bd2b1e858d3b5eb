"""Access rules as data: what each kind of caller and each staff role may do with which types.

A request is allowed when (1) a granted SMART scope covers the type and permission, (2) the
caller's kind or role allows it here, and (3) the resource passes the compartment rule of
``policy.decide`` (own record, family, care relationship, consent, region).
"""

from __future__ import annotations

from gansu_health.fhir.definitions import patient_compartment

ALL = "cruds"
READS = "rs"

# shared reference data every signed-in caller may read: the registries, terminology, definitions
DIRECTORY = frozenset({
    "Organization", "OrganizationAffiliation", "Location", "HealthcareService", "Endpoint",
    "Practitioner", "PractitionerRole", "Slot", "CodeSystem", "ValueSet", "ConceptMap",
    "NamingSystem", "StructureDefinition", "SearchParameter", "OperationDefinition",
    "CapabilityStatement", "CompartmentDefinition", "ImplementationGuide", "Questionnaire",
    "ActivityDefinition", "PlanDefinition", "Library", "Measure", "Medication",
    "MedicationKnowledge", "Substance", "DocumentReference_Template", "ChargeItemDefinition",
    "InsurancePlan", "ObservationDefinition", "SpecimenDefinition", "Device", "DeviceDefinition",
})
# Schedule names its actors (a doctor, a room, rarely a patient): treat it as directory data
SCHEDULING = frozenset({"Schedule", "Slot", "Appointment", "AppointmentResponse"})
CLINICAL = frozenset(t for t in patient_compartment() if t not in (
    "Schedule", "Person", "AuditEvent", "Group", "Provenance", "Patient"))
DEMOGRAPHIC = frozenset({"Patient", "Person", "RelatedPerson", "Coverage"})
MEDICATION = frozenset({"MedicationRequest", "MedicationDispense", "MedicationAdministration",
                        "MedicationStatement", "Medication"})
PUBLIC_HEALTH = frozenset({"Immunization", "ImmunizationRecommendation",
                           "ImmunizationEvaluation", "Condition", "Observation",
                           "DiagnosticReport", "Encounter", "Patient", "Specimen"})

# a citizen writes their own consents, questionnaires, self-measured observations, messages
CITIZEN_WRITES = frozenset({"Consent", "QuestionnaireResponse", "Observation", "Communication",
                            "RelatedPerson"})


def _grant(*pairs: tuple[frozenset[str], str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for types, perms in pairs:
        for rtype in types:
            out[rtype] = "".join(p for p in ALL if p in perms or p in out.get(rtype, ""))
    return out


# role → resource type → permission letters (before scopes and compartments narrow them)
ROLE_RULES: dict[str, dict[str, str]] = {
    "doctor": _grant((DIRECTORY | SCHEDULING, READS), (CLINICAL, ALL), (DEMOGRAPHIC, "crus")),
    "nurse": _grant((DIRECTORY | SCHEDULING, READS), (CLINICAL, "crus"),
                    (DEMOGRAPHIC, "crus")),
    "pharmacist": _grant((DIRECTORY, READS), (DEMOGRAPHIC | CLINICAL, READS), (MEDICATION, ALL)),
    "registrar": _grant((DIRECTORY, READS), (DEMOGRAPHIC, "crus"), (SCHEDULING, ALL)),
    "data-steward": _grant((DIRECTORY, READS), (DEMOGRAPHIC, "crus"),
                           (frozenset({"Linkage"}), ALL)),
    "cdc-officer": _grant((DIRECTORY, READS), (PUBLIC_HEALTH, READS),
                          (frozenset({"Immunization", "ImmunizationRecommendation"}), "cru")),
    "supervisor": _grant((DIRECTORY | SCHEDULING, READS)),
    "admin": _grant((DIRECTORY | frozenset({"Schedule"}), ALL)),
}
# roles whose access to a patient's data needs a relationship, a consent or break-glass
TREATING_ROLES = frozenset({"doctor", "nurse", "pharmacist"})
# roles that see the patients living in their region (GB/T 2260 code prefix)
REGIONAL_ROLES = frozenset({"cdc-officer", "supervisor"})
# roles that may find people by demographics ($match, PIXm) to register or link them
PERSON_LOOKUP_ROLES = frozenset({"doctor", "nurse", "registrar", "data-steward"})
STEWARD_ROLES = frozenset({"data-steward"})
# roles that run clinic schedules (templates, release, stop a clinic, policy)
SCHEDULE_ROLES = frozenset({"registrar", "admin"})
# staff whose terminals scan e-health cards (verify, check in) for their institution
CARD_TERMINAL_ROLES = frozenset({"registrar", "nurse", "doctor"})
# staff who serve a card desk: issue, reissue and print cards for residents
CARD_DESK_ROLES = frozenset({"registrar"})
BREAK_GLASS_ROLES = frozenset({"doctor", "nurse"})
# roles that read booking indicators (supervisors of their region; administrators everywhere)
INDICATOR_ROLES = frozenset({"supervisor", "admin"})
ADMIN_ROLES = frozenset({"admin"})
# resource types whose writes are how access is granted: never writable by the grantee's side
GRANTING_TYPES = frozenset({"Consent"})
# age under which a guardian consents for a child (PIPL art. 31)
GUARDIAN_AGE = 14


def role_allows(roles: frozenset[str], rtype: str, permission: str) -> bool:
    """Whether any of the staff ``roles`` may use ``permission`` on ``rtype``."""
    return any(permission in ROLE_RULES.get(role, {}).get(rtype, "") for role in roles)


def citizen_allows(rtype: str, permission: str) -> bool:
    """Whether a citizen may use ``permission`` on ``rtype`` (their compartment rules apply)."""
    if permission in "rs":
        return rtype in CLINICAL or rtype in DEMOGRAPHIC or rtype in DIRECTORY or (
            rtype in SCHEDULING)
    return rtype in CITIZEN_WRITES
