"""Validation of FHIR R4 JSON resources against the official R4 structure definitions.

Issue codes used: "structure" (unknown element, wrong JSON shape or kind, choice clashes),
"required" (missing element), "value" (bad primitive format or reference), "code-invalid"
(required binding), "not-supported" (unknown resourceType), "invalid" (unexpected type),
"invariant" (ext-1, dom-2), "not-found" (a #fragment naming no contained resource) and
"too-complex" (nesting too deep to walk).
"""

from __future__ import annotations

from typing import Any

from ._context import Context, Issue
from ._walker import walk_resource

__all__ = ["Issue", "validate_resource"]


def validate_resource(resource: Any, *, expected_type: str | None = None) -> list[Issue]:
    """Validate one parsed FHIR R4 JSON resource and return every issue found."""
    ctx = Context()
    try:
        walk_resource(resource, "", ctx, expected_type)
    except RecursionError:
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        where = rtype if isinstance(rtype, str) else expected_type or "Resource"
        ctx.error("too-complex", where, f"{where} is nested too deeply to validate.")
    return ctx.issues
