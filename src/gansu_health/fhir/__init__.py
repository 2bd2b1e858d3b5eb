"""The FHIR R4 repository: model tables, validation, storage, search, REST and operations."""
