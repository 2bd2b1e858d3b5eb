"""Registries (institutions, departments, practitioners) and the terminology service."""

from gansu_health.registry.terminology import load_terminology

__all__ = ["load_terminology"]
