"""Wire the FHIR repository together: indexer, store, search, service, operations, REST."""

from __future__ import annotations

import orjson
from sqlalchemy import Engine

from gansu_health.core.settings import Settings
from gansu_health.domains import setups
from gansu_health.fhir.capability import capability_statement
from gansu_health.fhir.operations import OperationRegistry
from gansu_health.fhir.rest.builtin_ops import register_builtin
from gansu_health.fhir.rest.dispatch import FhirApi
from gansu_health.fhir.search.criteria import CriteriaBuilder
from gansu_health.fhir.search.engine import SearchEngine
from gansu_health.fhir.search.indexer import Indexer
from gansu_health.fhir.service import FhirService
from gansu_health.fhir.storage.repository import ResourceStore


def build_service(settings: Settings) -> FhirService:
    """Build the FHIR service for a node."""
    indexer = Indexer(settings.base_url, settings.timezone)
    store = ResourceStore(indexer, settings.node_id)
    engine = SearchEngine(store, CriteriaBuilder(settings.base_url, settings.timezone),
                          settings.max_include)
    return FhirService(settings, store, engine)


def build_fhir_api(settings: Settings, engine: Engine,
                   registry: OperationRegistry | None = None) -> FhirApi:
    """Build the FHIR endpoint with the built-in operations (and any already registered)."""
    registry = registry or OperationRegistry()
    register_builtin(registry)
    service = build_service(settings)
    api = FhirApi(settings, engine, service, registry)
    for setup in setups():
        setup(api)
    api.capability = orjson.dumps(
        capability_statement(settings.base_url, registry, service.store.indexer))
    return api
