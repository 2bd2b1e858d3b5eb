"""Generate the demo province as FHIR R4 transaction Bundles."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from datetime import date

from gansu_health.demo.bundle import Resource, Transaction
from gansu_health.demo.clinical import ClinicalHistory
from gansu_health.demo.people import PopulationBuilder, patient_resource
from gansu_health.demo.registry import Facility, Registry, build_registry

DEFAULT_SEED = 2019
DEFAULT_PATIENTS = 200
DEFAULT_AS_OF = date(2025, 6, 30)


def _care_network(registry: Registry, region: str, county: str) -> tuple[list[Facility], Facility]:
    facilities = registry.in_region(region)
    local = [f for f in facilities if f.spec.county == county]
    primaries = [f for f in local if f.spec.tier == "primary"] or [
        f for f in facilities if f.spec.tier == "primary"
    ]
    city = [f for f in facilities if f.spec.tier in ("tertiary", "secondary")]
    network = {f.spec.id: f for f in [*local, *primaries, *city]}
    return list(network.values()), primaries[0]


def generate_demo(
    seed: int = DEFAULT_SEED, patients: int = DEFAULT_PATIENTS, *, as_of: date = DEFAULT_AS_OF
) -> list[Resource]:
    """Return transaction Bundles: registry first, then one per household with its history."""
    bundles, registry = build_registry(seed)
    population = PopulationBuilder(seed, as_of)
    history = ClinicalHistory(random.Random(f"gansu-demo-clinical-{seed}"), as_of)
    served = sorted({f.spec.county for fs in registry.facilities.values() for f in fs})
    households = emitted = 0
    while emitted < patients:
        choices = served if population.rng.random() < 0.7 else None
        members = population.household(choices)[: patients - emitted]
        emitted += len(members)
        households += 1
        tx = Transaction(f"demo-{seed}-household-{households:05d}")
        for resident in members:
            local, primary = _care_network(registry, resident.region, resident.county)
            tx.put(patient_resource(resident, primary.spec.id, as_of))
            history.write(tx, resident, local, primary)
        bundles.append(tx.build())
    return bundles


def iter_resources(bundles: Iterable[Resource]) -> Iterable[Resource]:
    """Yield every resource inside the bundles."""
    for bundle in bundles:
        for entry in bundle.get("entry", []):
            yield entry["resource"]


def summary(bundles: Iterable[Resource]) -> dict[str, int]:
    """Count the resources in the bundles by resourceType."""
    counts = Counter(resource["resourceType"] for resource in iter_resources(bundles))
    return dict(sorted(counts.items()))
