"""The FHIR endpoint's guard: authenticate, authorise every interaction, audit every request.

Searches follow HAPI's two interceptors: patient-context searches are *narrowed* to the allowed
compartments before they run (SearchNarrowingInterceptor), and every result — matches and
includes — is checked again before it is shown (ConsentInterceptor); when something was
withheld the Bundle carries no total. A search that names a patient the caller may not reach
is refused outright (403), so probing another person's id (IDOR) is answered, not hidden.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection, Engine

from gansu_health.core.errors import Forbidden, Gone, NotFound, PlatformError
from gansu_health.fhir.compartment import PatientCompartments
from gansu_health.fhir.operations import Operation
from gansu_health.fhir.rest.dispatch import FhirRequest
from gansu_health.fhir.rest.guard import READ, SEARCH, UPDATE
from gansu_health.fhir.service import FhirService
from gansu_health.fhir.storage.repository import Stored
from gansu_health.identity.audit_requests import RequestAuditor
from gansu_health.identity.authn import Authenticator, bearer
from gansu_health.identity.policy import rules
from gansu_health.identity.policy.decide import AccessPolicy
from gansu_health.identity.policy.relations import Relations
from gansu_health.identity.principal import Principal
from gansu_health.identity.web.ratelimit import check_client_quota

PUBLIC_PATHS = frozenset({"metadata"})
BREAK_GLASS_HEADER = "x-break-glass-reason"  # percent-encoded UTF-8 (headers are Latin-1)
PATIENT_PARAMS = ("patient", "subject", "beneficiary")
# where registry resources name the institution they belong to
OWNER_ELEMENTS = {"PractitionerRole": ("organization",), "HealthcareService": ("providedBy",),
                  "Location": ("managingOrganization",), "Device": ("owner",), "Schedule": ()}


def _deny(reason: str) -> Forbidden:
    return Forbidden(reason)


class SecurityGuard:
    """Enforces scopes, roles, compartments and consent; writes one audit row per request."""

    def __init__(self, engine: Engine, service: FhirService, node: str,
                 audit_flush_ms: int = 50, token_cache_s: float = 2.0) -> None:
        self.service = service
        self.compartments = PatientCompartments(service.store.indexer)
        self.policy = AccessPolicy(self.compartments, service.store.indexer)
        self.authenticator = Authenticator(engine, token_cache_s)
        self.auditor = RequestAuditor(engine, node, audit_flush_ms)

    # -- who -------------------------------------------------------------------------------
    def authenticate(self, req: FhirRequest) -> None:
        """Resolve the bearer token; public paths (the CapabilityStatement) need none.

        In-process callers (the citizen app and console pages) set ``req.principal`` from the
        signed-in session themselves; HTTP requests never arrive with one.
        """
        if req.principal is not None:
            return
        if req.path.strip("/") in PUBLIC_PATHS and req.method in ("GET", "HEAD"):
            return
        principal = self.authenticator.principal(bearer(req.headers.get("authorization")))
        check_client_quota(principal.client_id or principal.subject)
        reason = unquote(req.headers.get(BREAK_GLASS_HEADER, "")).strip()
        if reason:
            if not principal.roles & rules.BREAK_GLASS_ROLES or principal.kind != "staff":
                req.principal = principal
                raise _deny("Break-glass access is for doctors and nurses")
            if len(reason) < 4:
                req.principal = principal
                raise _deny(f"Break-glass needs a reason (header {BREAK_GLASS_HEADER})")
            principal = principal.with_break_glass(reason)
        req.principal = principal

    def authenticate_from_memory(self, req: FhirRequest) -> bool:
        """Authenticate from the token cache alone when audit rows are queued, not written."""
        if req.principal is not None:
            return True
        if self.auditor.interval <= 0 or req.headers.get(BREAK_GLASS_HEADER):
            return False
        try:
            principal = self.authenticator.cached(bearer(req.headers.get("authorization")))
            if principal is None:
                return False
            check_client_quota(principal.client_id or principal.subject)
        except PlatformError:
            return False  # the request goes the normal way, which says why
        req.principal = principal
        return True

    @staticmethod
    def _who(req: FhirRequest) -> Principal:
        principal: Principal = req.principal
        return principal

    def _relations(self, conn: Connection, req: FhirRequest) -> Relations:
        rel = req.access.memo.get(id(conn))
        if rel is None:
            rel = req.access.memo[id(conn)] = Relations(conn, self.service)
        return rel

    # -- what ------------------------------------------------------------------------------
    def permit(self, req: FhirRequest, rtype: str, permission: str) -> None:
        """Refuse interactions no scope or role allows on the type."""
        denial = self.policy.type_denial(self._who(req), rtype, permission)
        if denial:
            raise _deny(denial)

    def check(self, conn: Connection, req: FhirRequest, permission: str,
              resource: dict[str, Any]) -> None:
        """Refuse a resource outside the caller's compartments, care, consent or region."""
        patients = self.compartments.patients(resource)
        req.access.patients |= patients
        denial = self.policy.resource_denial(self._relations(conn, req), self._who(req),
                                             permission, resource, patients)
        if denial:
            raise _deny(denial)

    def narrow(self, conn: Connection, req: FhirRequest, rtype: str,
               params: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Restrict a search to the patients the caller may reach; refuse naming others."""
        who = self._who(req)
        if (not self.compartments.in_compartment(rtype) or rtype in rules.DIRECTORY
                or rtype in ("Schedule", "Slot")):
            return params
        scopes = who.scopes.matching(rtype, SEARCH)
        if any(s.context == "system" for s in scopes):
            return params
        rel = self._relations(conn, req)
        named = self._named_patients(rtype, params)
        if any(s.context == "patient" for s in scopes):
            allowed = self.policy.allowed_patients(rel, who)
            if named is not None:
                outside = sorted(named - allowed)
                if outside:
                    raise _deny(f"Patient/{outside[0]} is not you or a family member who has "
                                "consented")
                req.access.patients |= named
                return params
            if not allowed:
                raise _deny("This token has no patient context")
            name = self.compartments.narrowing_param(rtype) or "patient"
            value = ",".join(sorted(allowed)) if name == "_id" else ",".join(
                f"Patient/{p}" for p in sorted(allowed))
            return [*params, (name, value)]
        if named and who.roles & rules.TREATING_ROLES:
            for patient in sorted(named):
                if not self.policy.treats(rel, who, patient):
                    raise _deny(f"Patient/{patient} is not under your institution's care and "
                                "has not consented to share with you")
            req.access.patients |= named
        return params

    def _named_patients(self, rtype: str, params: list[tuple[str, str]]) -> set[str] | None:
        names = ("_id",) if rtype == "Patient" else (
            *PATIENT_PARAMS, self.compartments.narrowing_param(rtype) or "patient")
        found: set[str] | None = None
        for key, value in params:
            if key.split(":")[0] in names and "." not in key:
                ids = {v.strip().removeprefix("Patient/") for v in value.split(",") if v.strip()}
                found = ids if found is None else found & ids
        return found

    def visible(self, conn: Connection, req: FhirRequest, found: list[Stored]) -> list[Stored]:
        """Keep the results the caller may read."""
        who = self._who(req)
        rel = self._relations(conn, req)
        shown: list[Stored] = []
        for stored in found:
            resource = stored.json()
            patients = self.compartments.patients(resource)
            if self.policy.resource_denial(rel, who, READ, resource, patients) is None:
                shown.append(stored)
                req.access.patients |= patients
            else:
                req.access.withheld += 1
        return shown

    def operation(self, conn: Connection, req: FhirRequest, op: Operation, rtype: str | None,
                  fid: str | None, body: Any) -> None:
        """Apply the operation's access class (see ``Operation.access``)."""
        who = self._who(req)
        privileged = who.kind in ("system", "operator")
        if op.access == "open":
            return
        if op.access == "patient":
            if not who.scopes.matching("*", READ):
                raise _deny(f"${op.name} needs a read scope on every type (…/*.rs)")
            self.check(conn, req, READ, self.service.read(conn, rtype or "", fid or "").json())
            return
        if op.access == "person-lookup":
            self.permit(req, "Patient", SEARCH)
            if privileged or who.roles & rules.PERSON_LOOKUP_ROLES:
                return
            raise _deny(f"${op.name} is for registrars, clinicians and data stewards")
        if op.access == "steward":
            self.permit(req, "Patient", UPDATE if op.writes else SEARCH)
            if privileged or who.roles & rules.STEWARD_ROLES:
                return
            raise _deny(f"${op.name} is for data stewards")
        if op.access == "booking":
            if who.kind == "citizen":  # residents book through the operations, never by writes
                if not who.scopes.matching("Appointment", UPDATE if op.writes else SEARCH):
                    raise _deny(f"${op.name} needs a scope on Appointment")
            else:
                self.permit(req, rtype or "Appointment", UPDATE if op.writes else SEARCH)
            self._booking_patient(conn, req, body)
            return
        if op.access == "payment":  # pays a bill of the ``patient`` parameter
            self.permit(req, "Invoice", READ)
            self._booking_patient(conn, req, body)
            return
        if op.access == "indicators" and who.roles & rules.INDICATOR_ROLES:
            return  # supervisors: the operation keeps them to their region
        if op.access == "schedule" and who.roles & rules.SCHEDULE_ROLES:
            self._own_institution(conn, who, rtype, fid, op.name)
            return
        if op.access in ("card-terminal", "card-holder"):
            self._card(conn, req, op, fid)
            return
        if privileged or who.roles & rules.ADMIN_ROLES:
            return
        raise _deny(f"${op.name} is for administrators and system clients")

    def _card(self, conn: Connection, req: FhirRequest, op: Operation, fid: str | None
              ) -> None:
        """Card terminals: system clients and registrars, nurses, doctors. Card holders: the
        person, a guardian or consenting family member, a card desk, system clients."""
        who = self._who(req)
        self.permit(req, "Patient", READ)
        if who.kind in ("system", "operator"):
            return
        if op.access == "card-terminal":
            if who.kind == "staff" and who.roles & rules.CARD_TERMINAL_ROLES:
                return
            raise _deny(f"${op.name} is for hospital terminals (system clients, registrars, "
                        "nurses and doctors)")
        if who.kind == "staff" and who.roles & rules.CARD_DESK_ROLES:
            return
        if fid and fid in self.policy.allowed_patients(self._relations(conn, req), who):
            req.access.patients.add(fid)
            return
        raise _deny(f"${op.name} is for the card holder, their guardian or a family member who "
                    "has consented")

    def _own_institution(self, conn: Connection, who: Principal, rtype: str | None,
                         fid: str | None, name: str) -> None:
        """Staff run the schedules of their own institution only."""
        if rtype is None or fid is None:
            return
        places = self._institutions(conn, rtype, fid, depth=2)
        if who.organization not in places:
            raise _deny(f"${name} on {rtype}/{fid} belongs to another institution than yours "
                        f"(Organization/{who.organization})")

    def _institutions(self, conn: Connection, rtype: str, fid: str, depth: int) -> set[str]:
        """The Organizations a registry or scheduling resource belongs to."""
        if rtype == "Organization":
            return {fid}
        try:
            body = self.service.store.read(conn, rtype, fid).json()
        except (NotFound, Gone):
            return set()
        refs = [body.get(key) for key in OWNER_ELEMENTS.get(rtype, ())]
        if rtype == "Schedule" and depth > 0:
            refs += body.get("actor") or []
        found: set[str] = set()
        for ref in refs:
            target = (ref or {}).get("reference", "") if isinstance(ref, dict) else ""
            kind, _, ident = target.partition("/")
            if kind == "Organization":
                found.add(ident)
            elif kind in OWNER_ELEMENTS and ident and depth > 0:
                found |= self._institutions(conn, kind, ident, depth - 1)
        return found

    def _booking_patient(self, conn: Connection, req: FhirRequest, body: Any) -> None:
        who = self._who(req)
        if who.kind in ("system", "operator") or who.roles & {"registrar", "doctor", "nurse"}:
            return
        named = {v.removeprefix("Patient/") for k, v in req.params if k == "patient"}
        if isinstance(body, dict):
            for part in body.get("parameter") or []:
                if part.get("name") == "patient":
                    ref = (part.get("valueReference") or {}).get("reference") or part.get(
                        "valueString") or ""
                    named.add(ref.removeprefix("Patient/"))
        allowed = self.policy.allowed_patients(self._relations(conn, req), who)
        for patient in sorted(named):
            if patient not in allowed:
                raise _deny(f"You may not book for Patient/{patient}")
        req.access.patients |= named

    def history(self, req: FhirRequest, rtype: str | None) -> None:
        """Type- and system-level history spans every patient: system clients only."""
        who = self._who(req)
        scopes = who.scopes.matching(rtype or "*", READ)
        if who.kind not in ("system", "operator") or not any(
                s.context == "system" for s in scopes):
            raise _deny("History across resources is open to system clients with a read scope")

    # -- record ----------------------------------------------------------------------------
    def finish(self, req: FhirRequest, status: int) -> None:
        """Write the request's audit row."""
        self.auditor.record(req, status)

    def flush(self) -> None:
        """Write queued audit rows now."""
        self.auditor.flush()

    def close(self) -> None:
        """Write queued audit rows and stop the audit writer."""
        self.auditor.close()
