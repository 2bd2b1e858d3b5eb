"""Storage of FHIR resources: versions, current pointers and typed search-index tables."""
