"""Which scopes a client and a principal may hold: requested ∩ client allowance ∩ principal kind."""

from __future__ import annotations

from gansu_health.identity.scopes import ScopeError, ScopeSet

CLIENT_KINDS = ("system", "node", "public", "confidential")
USER_FACING = frozenset({"public", "confidential"})  # SMART apps that run the code flow
# the data-scope contexts each client kind may ever be granted
CLIENT_CONTEXTS: dict[str, frozenset[str]] = {
    "system": frozenset({"system"}), "node": frozenset({"system"}),
    "public": frozenset({"patient", "user"}), "confidential": frozenset({"patient", "user"})}
# the data-scope contexts each principal kind may hold (citizens patient/…, staff user/…)
PRINCIPAL_CONTEXTS: dict[str, frozenset[str]] = {
    "citizen": frozenset({"patient"}), "staff": frozenset({"user"}),
    "system": frozenset({"system"}), "operator": frozenset({"patient", "user", "system"})}
# non-data scopes this server honours: no OpenID Connect (no id_token), no EHR launch
PRINCIPAL_EXTRAS: dict[str, frozenset[str]] = {
    "citizen": frozenset({"launch/patient", "offline_access", "online_access"}),
    "staff": frozenset({"offline_access", "online_access"}),
    "system": frozenset(), "operator": frozenset()}
REFRESH_SCOPES = frozenset({"offline_access", "online_access"})


def parse(text: str | None) -> ScopeSet:
    """Parse a requested scope string; raise ScopeError for malformed scopes."""
    return ScopeSet.parse(text or "")


def restrict(scopes: ScopeSet, contexts: frozenset[str], extras: frozenset[str]) -> ScopeSet:
    """Keep the data scopes of ``contexts`` and the non-data scopes in ``extras``."""
    return ScopeSet(tuple(s for s in scopes.scopes if s.context in contexts),
                    scopes.other & extras)


def for_client(requested: ScopeSet, kind: str, allowed: str) -> ScopeSet:
    """The part of ``requested`` a client of ``kind`` with allowance ``allowed`` may receive."""
    extras = frozenset().union(*PRINCIPAL_EXTRAS.values()) if kind in USER_FACING else frozenset()
    return restrict(requested.narrowed_to(ScopeSet.parse(allowed)), CLIENT_CONTEXTS[kind],
                    extras)


def for_principal(scopes: ScopeSet, principal_kind: str) -> ScopeSet:
    """The part of ``scopes`` a principal of ``principal_kind`` may hold."""
    return restrict(scopes, PRINCIPAL_CONTEXTS[principal_kind], PRINCIPAL_EXTRAS[principal_kind])


def wants_refresh(scope: str) -> bool:
    """Whether a granted scope string asks for a refresh token (SMART offline/online access)."""
    return not REFRESH_SCOPES.isdisjoint(scope.split())


def check_allowance(text: str, kind: str) -> ScopeSet:
    """Validate the scopes a new client of ``kind`` is allowed; raise ScopeError when unfit."""
    scopes = ScopeSet.parse(text)
    if not scopes.scopes:
        raise ScopeError("a client needs at least one data scope (e.g. system/*.rs)")
    wrong = sorted(str(s) for s in scopes.scopes if s.context not in CLIENT_CONTEXTS[kind])
    if wrong:
        raise ScopeError(f"a {kind} client cannot hold {', '.join(wrong)}")
    return scopes
