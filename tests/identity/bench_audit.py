"""Measure the audit append and field-encryption costs (a script, not a test).

Run: ``.venv/bin/python tests/identity/bench_audit.py [N]``. Starts a throwaway PostgreSQL
cluster (fsync and synchronous_commit off, as in the test suite) and a SQLite file.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.migrate import upgrade
from gansu_health.core.settings import Settings
from gansu_health.devtools.pgcluster import PostgresCluster, PostgresUnavailable
from gansu_health.identity.audit.repository import AuditRecord, record, record_now, verify
from gansu_health.identity.keys import FieldCipher, MemoryKeyProvider

EVENT = AuditRecord(action="R", subtype="read", actor_type="Practitioner", actor_id="doc-1",
                    actor_name="王医生", patient_id="p-1", resource_type="Observation",
                    resource_id="obs-1", purpose_of_use="TREAT", source_ip="10.62.0.8",
                    user_agent="his-client/1.0")


def _timed(func: Callable[[], object], n: int, rounds: int = 5) -> float:
    """Return µs per call: the best of ``rounds`` rounds (robust on a shared, busy machine)."""
    per_round = max(1, n // rounds)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            func()
        best = min(best, (time.perf_counter() - start) / per_round * 1e6)
    return best


def bench_engine(name: str, engine: Engine, n: int) -> None:
    """Time an empty write transaction, record() in it, record() x100 per txn, and verify()."""
    record_now(engine, EVENT)  # warm up: head row, pool, statement cache

    def empty() -> None:
        with write_transaction(engine) as conn:
            conn.exec_driver_sql("SELECT 1")

    def hundred() -> None:
        with write_transaction(engine) as conn:
            for _ in range(100):
                record(conn, EVENT)

    base = _timed(empty, n)
    own = _timed(lambda: record_now(engine, EVENT), n)
    batched = _timed(hundred, max(5, n // 100)) / 100
    cpu = time.process_time()
    hundred()
    cpu_each = (time.process_time() - cpu) / 100 * 1e6
    start = time.perf_counter()
    report = verify(engine)
    rate = report.checked / (time.perf_counter() - start)
    print(f"{name:10} empty write txn {base:7.1f} µs | record_now (own txn) {own:7.1f} µs "
          f"= +{own - base:6.1f} µs | record() x100 per txn {batched:6.1f} µs each "
          f"({cpu_each:5.1f} µs app CPU) | "
          f"verify {rate:,.0f} rows/s ok={report.ok}")


def bench_cipher(n: int) -> None:
    """Time FieldCipher encrypt, decrypt and blind index on an 18-character resident id."""
    cipher = FieldCipher(MemoryKeyProvider())
    value = "62010219900101123X"
    token = cipher.encrypt(value, "rid")
    for label, func in (("encrypt", lambda: cipher.encrypt(value, "rid")),
                        ("decrypt", lambda: cipher.decrypt(token, "rid")),
                        ("blind_index", lambda: cipher.blind_index(value, "resident_id"))):
        print(f"FieldCipher.{label:12} {_timed(func, n):6.1f} µs")


def main() -> None:
    """Run every measurement."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    bench_cipher(n * 10)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = build_engine(url, Settings(database_url=url))
        bench_engine("SQLite", engine, n)
        engine.dispose()
    try:
        cluster = PostgresCluster().start()
    except PostgresUnavailable as exc:
        print(f"PostgreSQL skipped: {exc}")
        return
    try:
        url = cluster.create_database("bench")
        upgrade(url)
        engine = build_engine(url, Settings(database_url=url))
        bench_engine("PostgreSQL", engine, n)
        engine.dispose()
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
