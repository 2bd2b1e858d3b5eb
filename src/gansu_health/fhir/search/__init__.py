"""FHIR search: value extraction, the index writer, parameter parsing and SQL planning."""
