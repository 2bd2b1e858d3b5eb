"""The single exception type of the FHIRPath engine."""

from __future__ import annotations


class FhirPathError(ValueError):
    """An invalid FHIRPath expression (syntax or semantic) or a failed evaluation."""
