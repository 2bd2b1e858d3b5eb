"""Plug the registries and the terminology service into a FhirApi (found by domains.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from gansu_health.registry.rules import register_rules
from gansu_health.registry.terminology.operations import TerminologyOperations
from gansu_health.registry.terminology.resolver import StoredCodeResolver
from gansu_health.registry.terminology.source import TerminologyCache

if TYPE_CHECKING:
    from gansu_health.fhir.rest.dispatch import FhirApi

_CACHES: WeakKeyDictionary[FhirApi, TerminologyCache] = WeakKeyDictionary()


def setup(api: FhirApi) -> None:
    """Register the terminology operations, cache invalidation and the registry rules."""
    cache = TerminologyCache()
    TerminologyOperations(cache).register(api.registry)
    for rtype in ("CodeSystem", "ValueSet"):
        api.service.store.on_after_write(rtype, cache.on_write)
    register_rules(api.service.store)
    api.service.search_engine.builder.codes = StoredCodeResolver(cache, api.service)
    _CACHES[api] = cache


def terminology_cache(api: FhirApi) -> TerminologyCache:
    """Return the terminology cache that ``setup`` installed on ``api``."""
    return _CACHES[api]
