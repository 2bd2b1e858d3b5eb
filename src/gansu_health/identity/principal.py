"""Who is making a request: the principal every FHIR interaction is authorised and audited for."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from gansu_health.identity.scopes import ScopeSet

PrincipalKind = Literal["citizen", "staff", "system", "operator"]
# staff roles per institution (issue 4): 医生 护士 挂号员 药师 疾控 卫健委监管 数据管理员 系统管理员
ROLES = ("doctor", "nurse", "registrar", "pharmacist", "cdc-officer", "supervisor",
         "data-steward", "admin")
CLINICAL_ROLES = frozenset({"doctor", "nurse", "pharmacist"})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller with its granted scopes and the facts its access rules need."""

    kind: PrincipalKind
    subject: str  # account id, or the client id for systems and operators
    scopes: ScopeSet
    display: str = ""
    client_id: str | None = None
    token_id: str | None = None
    roles: frozenset[str] = frozenset()
    organization: str | None = None  # staff: the Organization id they act for
    practitioner: str | None = None  # staff: their Practitioner id (fhirUser)
    region: str | None = None  # GB/T 2260 code whose data a CDC officer or supervisor oversees
    patient: str | None = None  # SMART launch context; a citizen's own Patient id
    members: frozenset[str] = field(default_factory=frozenset)  # 就诊人: family Patient ids
    wards: frozenset[str] = field(default_factory=frozenset)  # members this account is guardian of
    home: str | None = None  # a citizen's own Patient (real-name binding); patient may differ
    node: str | None = None  # a municipal node's system client acts for its node
    break_glass: str | None = None  # the stated reason when emergency access was invoked

    @property
    def fhir_user(self) -> str | None:
        """The FHIR reference of the user (fhirUser claim)."""
        if self.kind == "citizen" and self.patient:
            return f"Patient/{self.patient}"
        if self.kind == "staff" and self.practitioner:
            return f"Practitioner/{self.practitioner}"
        return None

    def with_break_glass(self, reason: str) -> Principal:
        """The same principal with emergency access invoked for ``reason``."""
        return replace(self, break_glass=reason)
