"""HTTP side of the FHIR benchmark: transaction ingest and the timed query mix."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from gansu_health.devtools.bench_fhir_data import QUERY_KINDS, QueryKind, Sample, percentile

JSON = "application/fhir+json"
INGEST_HEADERS = {"Content-Type": JSON, "Accept": JSON, "Prefer": "return=minimal"}
QUERY_HEADERS = {"Accept": JSON, "Prefer": "handling=strict"}


@dataclass
class BundleJob:
    """One transaction Bundle to post, with where its Patient entry is."""

    key: tuple[int, int]  # (replica, bundle index)
    body: bytes
    entries: int
    patient_index: int | None


@dataclass
class IngestResult:
    """Throughput of one ingest run and the server ids of the posted Patients."""

    clients: int
    resources: int = 0
    bundles: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    patient_ids: dict[tuple[int, int], str] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Return resources stored per second."""
        return self.resources / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON-ready figures."""
        return {"clients": self.clients, "resources": self.resources, "bundles": self.bundles,
                "seconds": round(self.seconds, 2), "resources_per_s": round(self.rate, 1),
                "errors": len(self.errors), "error_samples": self.errors[:10]}


def _location_id(location: str) -> str | None:
    parts = location.split("/_history")[0].rstrip("/").split("/")
    return parts[-1] if len(parts) >= 2 else None


def post_bundle(client: httpx.Client, job: BundleJob, result: IngestResult,
                lock: threading.Lock) -> None:
    """POST one transaction Bundle and record its outcome in ``result``."""
    try:
        resp = client.post("", content=job.body, headers=INGEST_HEADERS)
    except httpx.HTTPError as exc:
        with lock:
            result.errors.append(f"bundle {job.key}: {type(exc).__name__}: {exc}")
        return
    if resp.status_code != 200:
        with lock:
            result.errors.append(f"bundle {job.key}: HTTP {resp.status_code} {resp.text[:300]}")
        return
    entries = orjson.loads(resp.content).get("entry") or []
    bad = [e.get("response", {}).get("status", "?") for e in entries
           if not str(e.get("response", {}).get("status", "")).startswith("2")]
    pid = None
    if job.patient_index is not None and job.patient_index < len(entries):
        pid = _location_id(entries[job.patient_index].get("response", {}).get("location", ""))
    with lock:
        result.bundles += 1
        result.resources += len(entries) - len(bad)
        if bad:
            result.errors.append(f"bundle {job.key}: entry statuses {sorted(set(bad))}")
        if pid:
            result.patient_ids[job.key] = pid


def ingest(base_url: str, jobs: Sequence[BundleJob], clients: int,
           advance: Callable[[int], None] | None = None) -> IngestResult:
    """POST ``jobs`` with ``clients`` concurrent keep-alive clients; time the whole run."""
    result = IngestResult(clients)
    lock = threading.Lock()
    queue = iter(jobs)

    def worker() -> None:
        with httpx.Client(base_url=base_url, timeout=600) as client:
            while True:
                with lock:
                    job = next(queue, None)
                if job is None:
                    return
                post_bundle(client, job, result, lock)
                if advance:
                    advance(job.entries)

    start = time.perf_counter()
    if clients <= 1:
        worker()
    else:
        with ThreadPoolExecutor(clients) as pool:
            for fut in [pool.submit(worker) for _ in range(clients)]:
                fut.result()
    result.seconds = time.perf_counter() - start
    return result


@dataclass
class QueryStats:
    """Latencies of one query type on one server."""

    kind: str
    status: str = "ok"  # ok | n/a | error
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON-ready figures."""
        lat = self.latencies_ms
        return {"status": self.status, "n": len(lat),
                "p50_ms": round(percentile(lat, 50), 2) if lat else None,
                "p95_ms": round(percentile(lat, 95), 2) if lat else None,
                "mean_ms": round(sum(lat) / len(lat), 2) if lat else None,
                "max_ms": round(self.slowest[0], 2), "slowest_url": self.slowest[1],
                "errors": len(self.errors), "error_samples": self.errors[:5], "note": self.note}


def _unsupported(resp: httpx.Response, body: dict[str, Any] | None) -> str | None:
    """Return the reason when a server says the query form is not supported."""
    outcomes: list[dict[str, Any]] = []
    if body and body.get("resourceType") == "OperationOutcome":
        outcomes.append(body)
    elif body:
        outcomes += [e["resource"] for e in body.get("entry") or []
                     if (e.get("resource") or {}).get("resourceType") == "OperationOutcome"]
    for oo in outcomes:
        for issue in oo.get("issue") or []:
            if issue.get("code") == "not-supported" or (
                    resp.status_code == 400 and "not supported" in str(issue.get("diagnostics"))):
                return str(issue.get("diagnostics") or "not supported")[:200]
    return None


def url_for(kind: QueryKind, sample: Sample, ids: dict[tuple[int, int], str]) -> str | None:
    """Return the concrete query of ``kind`` for ``sample`` on a server (None: unknown patient)."""
    pid = ids.get(sample.patient)
    if pid is None:
        return None
    return kind.build({**sample.values, "pid": pid})


@dataclass
class Answer:
    """Counts a server gave for one verification query."""

    status: int
    total: int | None
    matches: int
    included: int


def _answer(resp: httpx.Response) -> Answer:
    body = orjson.loads(resp.content) if resp.content else {}
    entries = body.get("entry") or []
    modes = [(e.get("search") or {}).get("mode") for e in entries]
    return Answer(resp.status_code, body.get("total"), modes.count("match"),
                  modes.count("include"))


def run_mix(base_url: str, samples: Sequence[Sample], ids: dict[tuple[int, int], str],
            runs: int, warmup: int, verify: int) -> tuple[dict[str, QueryStats],
                                                          dict[str, list[Answer | None]]]:
    """Time each query type ``runs`` times after ``warmup`` runs; then count ``verify`` ones."""
    stats: dict[str, QueryStats] = {}
    answers: dict[str, list[Answer | None]] = {}
    with httpx.Client(base_url=base_url, timeout=120, headers=QUERY_HEADERS) as client:
        for kind in QUERY_KINDS:
            st = stats[kind.name] = QueryStats(kind.name)
            for i in range(warmup + runs):
                url = url_for(kind, samples[i % len(samples)], ids)
                if url is None:
                    st.errors.append(f"no id for patient {samples[i % len(samples)].patient}")
                    continue
                t0 = time.perf_counter()
                try:
                    resp = client.get(url)
                    body = orjson.loads(resp.content) if resp.content else None
                except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
                    st.errors.append(f"{url}: {type(exc).__name__}: {exc}")
                    continue
                ms = (time.perf_counter() - t0) * 1000
                reason = _unsupported(resp, body)
                if reason:
                    st.status, st.note = "n/a", reason
                    break
                if resp.status_code != 200:
                    st.errors.append(f"{url}: HTTP {resp.status_code} {resp.text[:200]}")
                    continue
                if i >= warmup:
                    st.latencies_ms.append(ms)
                    if ms > st.slowest[0]:
                        st.slowest = (ms, url)
            if st.status == "ok" and st.errors and not st.latencies_ms:
                st.status = "error"
            answers[kind.name] = [] if st.status == "n/a" else \
                _verify(client, kind, samples[:verify], ids)
    return stats, answers


def _verify(client: httpx.Client, kind: QueryKind, samples: Sequence[Sample],
            ids: dict[tuple[int, int], str]) -> list[Answer | None]:
    """Ask for accurate totals (all includes: _count=1000 when the query includes)."""
    out: list[Answer | None] = []
    for sample in samples:
        url = url_for(kind, sample, ids)
        if url is None:
            out.append(None)
            continue
        count = "1000" if "include=" in url else "0"
        try:
            out.append(_answer(client.get(f"{url}&_total=accurate&_count={count}")))
        except (httpx.HTTPError, orjson.JSONDecodeError):
            out.append(None)
    return out
