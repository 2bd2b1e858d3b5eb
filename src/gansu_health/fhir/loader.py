"""Load FHIR data in bulk: transaction/batch/collection Bundles and NDJSON, files or folders."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gansu_health.fhir import jsonio
from gansu_health.fhir.rest.dispatch import FhirApi, FhirRequest

NDJSON_BATCH = 500


@dataclass
class LoadStats:
    """What a load did: resources stored by type, errors, elapsed seconds."""

    stored: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """Return how many resources were stored."""
        return sum(self.stored.values())

    @property
    def rate(self) -> float:
        """Return resources stored per second."""
        return self.total / self.seconds if self.seconds else 0.0


def discover(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into the JSON and NDJSON files inside them, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in (".json", ".ndjson")))
        else:
            found.append(path)
    return found


def _entry_for(resource: dict[str, Any]) -> dict[str, Any]:
    rtype = resource.get("resourceType", "")
    if resource.get("id"):
        return {"resource": resource, "request": {"method": "PUT",
                                                  "url": f"{rtype}/{resource['id']}"}}
    return {"resource": resource, "request": {"method": "POST", "url": rtype}}


def bundles_in(path: Path) -> Iterator[tuple[dict[str, Any], int]]:
    """Yield (transaction-or-batch Bundle, entry count) units to post for one file."""
    if path.suffix == ".ndjson":
        batch: list[dict[str, Any]] = []
        with path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    batch.append(_entry_for(jsonio.loads(line)))
                if len(batch) >= NDJSON_BATCH:
                    yield {"resourceType": "Bundle", "type": "batch", "entry": batch}, len(batch)
                    batch = []
        if batch:
            yield {"resourceType": "Bundle", "type": "batch", "entry": batch}, len(batch)
        return
    data = jsonio.loads(path.read_bytes())
    if data.get("resourceType") == "Bundle" and data.get("type") in ("transaction", "batch"):
        yield data, len(data.get("entry", []))
    elif data.get("resourceType") == "Bundle":
        entries = [_entry_for(e["resource"]) for e in data.get("entry", []) if "resource" in e]
        yield {"resourceType": "Bundle", "type": "batch", "entry": entries}, len(entries)
    else:
        yield {"resourceType": "Bundle", "type": "batch", "entry": [_entry_for(data)]}, 1


def post_bundle(api: FhirApi, bundle: dict[str, Any], stats: LoadStats, label: str) -> None:
    """Post one Bundle in-process and add its outcome to ``stats``."""
    entries = bundle.get("entry", [])
    resp = api.handle(FhirRequest("POST", "", [], {}, jsonio.dumps(bundle)))
    if resp.status >= 400:
        issue = orjson.loads(resp.body)["issue"][0]
        stats.errors.append(f"{label}: {issue.get('diagnostics')}")
        return
    for entry, result in zip(entries, orjson.loads(resp.body).get("entry", []), strict=False):
        status = result.get("response", {}).get("status", "")
        if status[:1] == "2":
            stats.stored[entry.get("request", {}).get("url", "?").split("/")[0].split("?")[0]] += 1
        else:
            diag = result["response"].get("outcome", {}).get("issue", [{}])[0].get("diagnostics")
            stats.errors.append(f"{label}: {diag}")


def load_paths(api: FhirApi, paths: Iterable[Path],
               progress: Callable[[int], None] | None = None) -> LoadStats:
    """Load every file under ``paths``; ``progress`` is told how many entries each unit had."""
    stats = LoadStats()
    start = time.perf_counter()
    for path in discover(paths):
        try:
            units = list(bundles_in(path))
        except (OSError, orjson.JSONDecodeError, AttributeError) as exc:
            stats.errors.append(f"{path.name}: cannot read ({exc})")
            continue
        for bundle, size in units:
            post_bundle(api, bundle, stats, path.name)
            if progress:
                progress(size)
    stats.seconds = time.perf_counter() - start
    return stats
