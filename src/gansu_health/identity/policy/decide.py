"""The access decision: scopes, then the caller's kind or role, then the compartment rule.

* ``system/`` scopes (hospital systems, municipal nodes, operators) reach every record the
  scope names.
* ``patient/`` scopes reach the compartments of the context patient — for a citizen: their own
  records (all of their Patient records across hospitals, via the MPI), their children under 14
  for whom they are the guardian, and family members who gave them an active consent.
* ``user/`` scopes (staff) follow the role matrix of ``rules``; treating roles (doctor, nurse,
  pharmacist) reach a patient under their institution's or their own care or with the person's
  consent, or by break-glass; CDC officers and supervisors reach patients living in their region.
"""

from __future__ import annotations

from typing import Any

from gansu_health.fhir.compartment import PatientCompartments
from gansu_health.fhir.search.indexer import Indexer
from gansu_health.identity.policy import rules
from gansu_health.identity.policy.relations import Relations
from gansu_health.identity.principal import Principal
from gansu_health.identity.scopes import Scope

NAMES = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}


def region_prefix(code: str) -> str:
    """The significant prefix of a GB/T 2260 code (620000 → 62, 620100 → 6201)."""
    code = code.strip()
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


class AccessPolicy:
    """Decides whether a principal may use a permission on a resource type or a resource."""

    def __init__(self, compartments: PatientCompartments, indexer: Indexer) -> None:
        self.compartments = compartments
        self.indexer = indexer

    def type_denial(self, who: Principal, rtype: str, permission: str) -> str | None:
        """Why ``who`` may not use ``permission`` on ``rtype`` at all, or None."""
        verb = NAMES.get(permission, permission)
        if not who.scopes.matching(rtype, permission):
            return f"No granted scope allows {verb} on {rtype}"
        if who.kind == "citizen" and not rules.citizen_allows(rtype, permission):
            return f"Residents may not {verb} {rtype} resources"
        if who.kind == "staff":
            if rtype in rules.GRANTING_TYPES and permission in "cud":
                return "Consents are given by the person or their guardian, not by staff"
            if not rules.role_allows(who.roles, rtype, permission):
                roles = ", ".join(sorted(who.roles)) or "no role"
                return f"The role ({roles}) may not {verb} {rtype} resources"
        return None

    def scopes_for(self, who: Principal, rtype: str, permission: str) -> list[Scope]:
        """The granted scopes that cover this permission."""
        return who.scopes.matching(rtype, permission)

    def resource_denial(self, rel: Relations, who: Principal, permission: str,
                        resource: dict[str, Any], patients: set[str]) -> str | None:
        """Why ``who`` may not use ``permission`` on this resource, or None."""
        rtype = resource.get("resourceType", "")
        scopes = self.scopes_for(who, rtype, permission)
        if not scopes:
            return f"No granted scope allows {NAMES.get(permission, permission)} on {rtype}"
        if not any(self._satisfies(s, resource) for s in scopes):
            return f"The granted scopes restrict which {rtype} resources may be used"
        if any(s.context == "system" for s in scopes) and who.kind in ("system", "operator"):
            return None
        public = rtype in rules.DIRECTORY or rtype in ("Schedule", "Slot")
        if public and permission in "rs":
            return None
        if not self.compartments.in_compartment(rtype) or rtype in rules.DIRECTORY:
            return None if who.kind != "citizen" else f"Residents may not change {rtype}"
        if any(s.context == "patient" for s in scopes):
            return self._patient_context(rel, who, permission, resource, patients)
        return self._staff(rel, who, patients)

    def allowed_patients(self, rel: Relations, who: Principal) -> frozenset[str]:
        """The Patient ids a patient-context caller may reach (citizen: self and family)."""
        if not (who.home or who.patient):
            return frozenset()
        cached = rel.memo.get("allowed")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        rel.memo["allowed"] = found = self._reachable(rel, who)
        return found

    def _reachable(self, rel: Relations, who: Principal) -> frozenset[str]:
        """Self and family for a citizen (within the launch patient, if one was picked)."""
        if who.kind != "citizen" or not who.home:
            return rel.linked(who.patient) if who.patient else frozenset()
        allowed = set(rel.linked(who.home))
        me = {f"Patient/{p}" for p in allowed}
        for member in who.members - allowed:
            age = rel.age(member)
            ward = member in who.wards and age is not None and age < rules.GUARDIAN_AGE
            if ward or rel.permits(member, me):
                allowed |= rel.linked(member)
        if who.patient and who.patient not in rel.linked(who.home):
            allowed &= rel.linked(who.patient)
        return frozenset(allowed)

    def _patient_context(self, rel: Relations, who: Principal, permission: str,
                         resource: dict[str, Any], patients: set[str]) -> str | None:
        if not patients:
            return f"This {resource.get('resourceType')} belongs to no patient you may reach"
        allowed = self.allowed_patients(rel, who)
        outside = sorted(patients - allowed)
        if outside:
            return f"Patient/{outside[0]} is not you or a family member who has consented"
        if resource.get("resourceType") in rules.GRANTING_TYPES and permission in "cu":
            return self._consent_writer(rel, who, resource)
        return None

    def _consent_writer(self, rel: Relations, who: Principal, consent: dict[str, Any]
                        ) -> str | None:
        """A person consents for themself; a guardian for a child under 14."""
        subject = ((consent.get("patient") or {}).get("reference") or "").removeprefix(
            "Patient/")
        own = who.home or who.patient
        if own and subject in rel.linked(own):
            return None
        age = rel.age(subject)
        if subject in who.wards and age is not None and age < rules.GUARDIAN_AGE:
            performers = {p.get("reference") for p in consent.get("performer") or []}
            if who.fhir_user and who.fhir_user in performers:
                return None
            return f"A guardian's consent must name the guardian ({who.fhir_user}) as performer"
        return f"Only Patient/{subject} (or their guardian while under 14) may give this consent"

    def _staff(self, rel: Relations, who: Principal, patients: set[str]) -> str | None:
        roles = who.roles
        if roles & rules.TREATING_ROLES:
            for patient in sorted(patients):
                if not self.treats(rel, who, patient):
                    return (f"Patient/{patient} is not under your institution's care and has "
                            "not consented to share with you (break-glass needs a reason)")
            return None
        if roles & rules.REGIONAL_ROLES:
            prefix = region_prefix(who.region or "")
            for patient in sorted(patients):
                if not (rel.region(patient) or "").startswith(prefix) or not who.region:
                    return f"Patient/{patient} does not live in your region ({who.region})"
            return None
        return None  # registrar, data steward, admin: their role matrix already limits types

    def treats(self, rel: Relations, who: Principal, patient: str) -> bool:
        """Whether a treating professional may reach this Patient record.

        The institution's own record of the person (a care relationship with this Patient) is
        open to it; the same person's records kept by other institutions need consent.
        """
        if who.break_glass:
            return True
        if rel.cared_by(patient, who.organization, who.practitioner):
            return True
        actors = {f"Organization/{who.organization}" if who.organization else "",
                  f"Practitioner/{who.practitioner}" if who.practitioner else ""} - {""}
        return rel.permits(patient, actors)

    def _satisfies(self, scope: Scope, resource: dict[str, Any]) -> bool:
        """Whether the resource meets a granular scope's ``?param=value`` restrictions."""
        if not scope.params:
            return True
        rows = self.indexer.rows(resource).get("token", [])
        for name, wanted in scope.params:
            system, bar, code = wanted.rpartition("|")
            if not any(row[0] == name and row[3] == code and (not bar or row[2] == system)
                       for row in rows):
                return False
        return True
