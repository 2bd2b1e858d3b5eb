"""Re-key the MPI's sealed features and blind keys after a rotation (``keys reencrypt``).

A source record is stale when its features are not sealed under the active data key or one of
its blocking keys or identifiers is blind under a retired index key; it is then indexed again
from its (opened) Patient, under a lock on the Patient row, exactly as a registration would.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, func, not_, select

from gansu_health.core.database import is_sqlite
from gansu_health.fhir.search.special import as_text
from gansu_health.identity.keys import FieldCipher
from gansu_health.identity.reencrypt import ReencryptStats, Row, walk_table
from gansu_health.identity.rekey import (
    Progress,
    RekeyTarget,
    count_by_key,
    counter,
    lock_resources,
    register,
    stale_tag,
)
from gansu_health.mpi.models import mpi_block_key, mpi_identifier, mpi_record
from gansu_health.mpi.service import MpiService


def _stale(conn: Connection, cipher: FieldCipher, rows: list[Row]) -> set[str]:
    sealed = f"g1:{cipher.keys.active('data')[0]}:".encode()
    index = cipher.keys.active("index")[0]
    fids = [r["patient_id"] for r in rows]
    stale = {r["patient_id"] for r in rows if not bytes(r["features"]).startswith(sealed)}
    keys = conn.execute(select(mpi_block_key.c.patient_id, mpi_block_key.c.key).where(
        mpi_block_key.c.patient_id.in_(fids)))
    stale |= {r.patient_id for r in keys if stale_tag(r.key.partition(":")[2], index)}
    idents = conn.execute(select(mpi_identifier.c.patient_id, mpi_identifier.c.value).where(
        mpi_identifier.c.patient_id.in_(fids)))
    return stale | {r.patient_id for r in idents if stale_tag(r.value, index)}


def rekey_target(mpi: MpiService, cipher: FieldCipher) -> RekeyTarget:
    """Return the MPI's re-key target: its indexed source records."""
    store = mpi.store

    def run(engine: Engine, start: Any, full: bool, batch: int, progress: Progress | None
            ) -> ReencryptStats:
        def handle(conn: Connection, rows: list[Row]) -> tuple[int, int]:
            fids = {r["patient_id"] for r in rows} if full else _stale(conn, cipher, rows)
            rids = store.rids_of(conn, [("Patient", fid) for fid in sorted(fids)])
            lock_resources(conn, rids)
            loaded = store.load_many(conn, rids)
            for stored in loaded.values():
                mpi.index_source(conn, stored)
            return len(loaded), 0

        return walk_table(engine, mpi_record, "patient_id", ["patient_id", "features"], handle,
                          batch=batch, start=start, progress=progress)

    def status(conn: Connection) -> list[tuple[str, str, int]]:
        features = as_text(mpi_record.c.features, is_sqlite(conn))
        clear = conn.execute(select(func.count()).where(not_(features.like("g1:%"))))
        return [*count_by_key(conn, "mpi_record.features (data)", features, [],
                              cipher.keys.key_ids("data"), lambda kid: f"g1:{kid}:%"),
                ("mpi_record.features (data)", "clear", int(clear.scalar_one())),
                *count_by_key(conn, "mpi_block_key (index)", mpi_block_key.c.key, [],
                              cipher.keys.key_ids("index"), lambda kid: f"%:{kid}:%"),
                *count_by_key(conn, "mpi_identifier (index)", mpi_identifier.c.value, [],
                              cipher.keys.key_ids("index"), lambda kid: f"{kid}:%")]

    return RekeyTarget("MPI source records", run, status, counter(mpi_record.c.patient_id))


def register_rekey(api: Any, mpi: MpiService) -> None:
    """Register the MPI's tables for re-keying when its vault seals them."""
    if mpi.vault.cipher is not None:
        register(api, rekey_target(mpi, mpi.vault.cipher))
