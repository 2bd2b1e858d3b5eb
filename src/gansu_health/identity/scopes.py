"""SMART on FHIR v2 scopes: ``<patient|user|system>/<Type|*>.<cruds>[?param=value]`` (and v1)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl

Context = Literal["patient", "user", "system"]
CONTEXTS: tuple[Context, ...] = ("patient", "user", "system")
ALL_PERMISSIONS = "cruds"
V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
# scopes that name no FHIR data; kept so that they can be granted and echoed back
NON_DATA_SCOPES = frozenset({"openid", "fhirUser", "profile", "launch", "launch/patient",
                             "launch/encounter", "offline_access", "online_access"})


class ScopeError(ValueError):
    """A scope string is not a valid SMART scope."""


@dataclass(frozen=True, slots=True)
class Scope:
    """One SMART resource scope."""

    context: Context
    resource_type: str  # "*" for every type
    permissions: str  # subset of "cruds", in that order
    params: tuple[tuple[str, str], ...] = ()

    def covers(self, resource_type: str, permission: str) -> bool:
        """Whether this scope grants ``permission`` (one of c r u d s) on ``resource_type``."""
        return permission in self.permissions and self.resource_type in ("*", resource_type)

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params)
        return f"{self.context}/{self.resource_type}.{self.permissions}" + (
            f"?{query}" if query else "")


def _permissions(text: str, raw: str) -> str:
    if text in V1_PERMISSIONS:
        return V1_PERMISSIONS[text]
    if not text or any(c not in ALL_PERMISSIONS for c in text):
        raise ScopeError(f"scope '{raw}': permissions must be letters of 'cruds' in that order")
    ordered = "".join(c for c in ALL_PERMISSIONS if c in text)
    if ordered != text:
        raise ScopeError(f"scope '{raw}': permissions must be letters of 'cruds' in that order")
    return ordered


def parse_scope(raw: str) -> Scope | None:
    """Parse one scope; return None for a non-data scope such as ``openid``."""
    if raw in NON_DATA_SCOPES or raw.startswith("launch"):
        return None
    head, _, query = raw.partition("?")
    context, slash, rest = head.partition("/")
    if not slash or context not in CONTEXTS:
        raise ScopeError(f"scope '{raw}' must start with patient/, user/ or system/")
    rtype, dot, perms = rest.rpartition(".")
    if not dot or not rtype:
        raise ScopeError(f"scope '{raw}' must read <context>/<Type|*>.<permissions>")
    if rtype != "*" and not (rtype[0].isupper() and rtype.isalnum()):
        raise ScopeError(f"scope '{raw}': '{rtype}' is not a resource type")
    params = tuple(parse_qsl(query, keep_blank_values=False)) if query else ()
    return Scope(context, rtype, _permissions(perms, raw), params)


@dataclass(frozen=True, slots=True)
class ScopeSet:
    """The scopes of one token."""

    scopes: tuple[Scope, ...]
    other: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> ScopeSet:
        """Parse a space-separated scope string (or a list of scopes)."""
        items = text.split() if isinstance(text, str) else list(text)
        scopes: list[Scope] = []
        other: set[str] = set()
        for raw in items:
            scope = parse_scope(raw)
            if scope is None:
                other.add(raw)
            else:
                scopes.append(scope)
        return cls(tuple(scopes), frozenset(other))

    def matching(self, resource_type: str, permission: str) -> list[Scope]:
        """The scopes that grant ``permission`` on ``resource_type``."""
        return [s for s in self.scopes if s.covers(resource_type, permission)]

    def contexts(self) -> set[str]:
        """The contexts (patient, user, system) named by the data scopes."""
        return {s.context for s in self.scopes}

    def narrowed_to(self, allowed: ScopeSet) -> ScopeSet:
        """The scopes of this set that ``allowed`` also grants (for token requests)."""
        kept = [s for s in self.scopes
                if any(a.context == s.context and a.resource_type in ("*", s.resource_type)
                       and set(s.permissions) <= set(a.permissions)
                       and set(a.params) <= set(s.params) for a in allowed.scopes)]
        return ScopeSet(tuple(kept), self.other & (allowed.other | NON_DATA_SCOPES))

    def __str__(self) -> str:
        return " ".join([*sorted(self.other), *(str(s) for s in self.scopes)])
