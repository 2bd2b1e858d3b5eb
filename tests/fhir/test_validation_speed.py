"""Throughput of validate_resource over Synthea resources; run as a script to print the figure.

PYTHONPATH=src .venv/bin/python tests/fhir/test_validation_speed.py [bundles]
The test below only checks that the measurement runs; it asserts nothing about timing.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from gansu_health.fhir.validation import validate_resource

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("GANSU_HEALTH_SHARED_DATA", REPO.parent / "shared" / "data"))
SYNTHEA = SHARED / "synthea-r4"


def load_resources(bundles: int) -> list[Any]:
    """Return the entry resources of ``bundles`` Synthea bundles spread over the folder."""
    files = sorted(SYNTHEA.glob("*.json"))
    step = max(1, len(files) // bundles) if bundles else 1
    resources: list[Any] = []
    for path in files[::step][:bundles]:
        resources += [e["resource"] for e in orjson.loads(path.read_bytes())["entry"]]
    return resources


def measure(resources: list[Any], rounds: int) -> tuple[float, float, int]:
    """Return (first-pass res/s, best res/s, error count) over ``rounds`` passes."""
    timings: list[float] = []
    errors = 0
    for _ in range(rounds):
        start = time.perf_counter()
        for resource in resources:
            errors += len(validate_resource(resource))
        timings.append(time.perf_counter() - start)
    return len(resources) / timings[0], len(resources) / min(timings), errors


def test_measurement_runs() -> None:
    if not SYNTHEA.is_dir():
        pytest.skip(f"Synthea data not found under {SYNTHEA} (set GANSU_HEALTH_SHARED_DATA)")
    resources = load_resources(1)
    _first, best, errors = measure(resources, 1)
    assert resources and best > 0 and errors == 0


def main() -> None:
    """Print validation throughput, single thread, JSON parsing excluded."""
    bundles = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    resources = load_resources(bundles)
    first, best, errors = measure(resources, 5)
    print(f"{len(resources)} resources from {bundles} bundles, {errors // 5} issues per pass")
    print(f"first pass (cold caches): {first:,.0f} resources/s")
    print(f"best of 5 passes:         {best:,.0f} resources/s")


if __name__ == "__main__":
    main()
