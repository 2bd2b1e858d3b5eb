"""The FHIR REST layer: HTTP dispatch, Bundles for search and history, operations."""
