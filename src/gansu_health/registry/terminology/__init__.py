"""The terminology service: stored CodeSystems/ValueSets, $lookup, $validate-code, $expand."""

from gansu_health.registry.terminology.loader import load_terminology, shipped_code_systems

__all__ = ["load_terminology", "shipped_code_systems"]
