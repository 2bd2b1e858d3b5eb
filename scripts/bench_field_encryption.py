"""Per-resource cost of field encryption: writes, reads and searches with it on, then off.

Runs in-process (no HTTP) on a fresh database, with the MPI on as in production:

    .venv/bin/python scripts/bench_field_encryption.py [--postgres] [--persons 3000] [--no-mpi]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from gansu_health.core.database import build_engine
from gansu_health.core.settings import Settings
from gansu_health.devtools.bench_mpi_service import _env, database, source_body, transaction
from gansu_health.fhir.rest.dispatch import FhirApi, FhirRequest
from gansu_health.fhir.setup import build_fhir_api
from gansu_health.identity.fields import FhirFieldCipher, field_cipher
from gansu_health.mpi.engine.synthetic import SyntheticRecord, generate_population
from gansu_health.mpi.resident_id import RESIDENT_ID_SYSTEM

SINGLE = 300  # registrations posted one by one; the rest go in transactions of 100


def _timed(call: Callable[[Any], Any], items: Sequence[Any]) -> float:
    """Return the mean microseconds of ``call(item)`` over the items."""
    began = time.perf_counter()
    for item in items:
        call(item)
    return (time.perf_counter() - began) / len(items) * 1e6


def _ok(api: FhirApi, method: str, path: str, params: list[tuple[str, str]] | None = None,
        body: bytes = b"") -> bytes:
    resp = api.handle(FhirRequest(method, path, params or [], {}, body))
    assert resp.status < 400, resp.body[:300]
    return resp.body


def _scenario(api: FhirApi, records: list[SyntheticRecord]) -> dict[str, float]:
    bodies = [source_body(r) for r in records]
    ids: list[str] = []

    def post(body: dict[str, Any]) -> None:
        ids.append(orjson.loads(_ok(api, "POST", "Patient", body=orjson.dumps(body)))["id"])

    out = {"create (one per request)": _timed(post, bodies[:SINGLE])}
    rest = records[SINGLE:]
    began = time.perf_counter()
    for start in range(0, len(rest), 100):
        _ok(api, "POST", "", body=transaction(rest[start:start + 100]))
    out["create (transactions of 100)"] = (time.perf_counter() - began) / len(rest) * 1e6
    out["read"] = _timed(lambda fid: _ok(api, "GET", f"Patient/{fid}"), ids)
    rids = [i["value"] for b in bodies[:SINGLE] for i in b["identifier"]
            if i["system"] == RESIDENT_ID_SYSTEM]
    out["search identifier=<resident id>"] = _timed(lambda rid: _ok(
        api, "GET", "Patient", [("identifier", f"{RESIDENT_ID_SYSTEM}|{rid}")]), rids)
    phones = [b["telecom"][0]["value"] for b in bodies[:SINGLE] if b.get("telecom")]
    out["search phone=<phone>"] = _timed(lambda phone: _ok(
        api, "GET", "Patient", [("phone", phone)]), phones)
    out["search page of 100 (per resource)"] = _timed(lambda _: _ok(
        api, "GET", "Patient", [("_count", "100"), ("gender", "female")]), range(20)) / 100
    return out


def _run(encrypted: bool, postgres: bool, records: list[SyntheticRecord], mpi: bool
         ) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as keys, \
            _env(GANSU_HEALTH_MPI_ENABLED="true" if mpi else "false",
                 GANSU_HEALTH_MPI_IDENTITY_POLICY="flag"), \
            database(postgres, None) as (url, _):
        settings = Settings(database_url=url, key_file=Path(keys) / "keys.json",
                            field_encryption=encrypted, security_enabled=False)
        engine = build_engine(url, settings)
        try:
            return _scenario(build_fhir_api(settings, engine), records)
        finally:
            engine.dispose()


def _micro(bodies: list[dict[str, Any]]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as keys:
        cipher = field_cipher(Settings(key_file=Path(keys) / "keys.json"))
        assert cipher is not None
        fields = FhirFieldCipher(cipher)
        sample = bodies[:500]
        sealed = [orjson.dumps(fields.seal("Patient", f"p{i}", b)) for i, b in enumerate(sample)]
        return {
            "seal one Patient": _timed(lambda b: fields.seal("Patient", "p", b), sample),
            "blind index body": _timed(lambda b: fields.index_body("Patient", b), sample),
            "open one Patient (parse+decrypt+dump)": _timed(
                lambda ic: fields.open("Patient", f"p{ic[0]}", ic[1]), list(enumerate(sealed))),
        }


def main() -> None:
    """Run the scenario with and without field encryption and print µs per resource."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--no-mpi", action="store_true")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    records = generate_population(args.persons)
    bodies = [source_body(r) for r in records]
    _run(True, args.postgres, records[:SINGLE + 100], not args.no_mpi)  # warm-up, not counted
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(args.repeat):  # alternate, keep the best of each (the cores are shared)
        for encrypted in (False, True):
            runs[encrypted].append(_run(encrypted, args.postgres, records, not args.no_mpi))
    plain, sealed = ({k: min(r[k] for r in runs[e]) for k in runs[e][0]} for e in (False, True))
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{backend}, {len(bodies)} Patients, MPI {'off' if args.no_mpi else 'on'}")
    print(f"{'µs per resource':42} {'clear':>9} {'sealed':>9} {'overhead':>9}")
    for name, base in plain.items():
        print(f"{name:42} {base:9.0f} {sealed[name]:9.0f} "
              f"{sealed[name] - base:+9.0f}")
    for name, value in _micro(bodies).items():
        print(f"{name:42} {'':9} {value:9.1f}")


if __name__ == "__main__":
    main()
