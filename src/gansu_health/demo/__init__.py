"""A synthetic, seeded demo province: registry, residents and clinical history as FHIR Bundles."""

from gansu_health.demo.generator import generate_demo, iter_resources, summary

__all__ = ["generate_demo", "iter_resources", "summary"]
