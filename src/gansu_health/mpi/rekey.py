"""Re-key the MPI's sealed features and blind keys after a rotation (``keys reencrypt``).

A source record is stale when its features are not sealed under the active data key or one of
its blocking keys or identifiers is blind under a retired index key. Its rows are then written
again under a lock on the Patient row: the same features, re-sealed, their blocking keys blinded
under the active key, and the identifiers and resident id taken from the (opened) Patient as a
registration takes them — re-keying changes no matching input.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, func, not_, select

from gansu_health.core.database import is_sqlite
from gansu_health.fhir.search.special import as_text
from gansu_health.fhir.storage.repository import Stored
from gansu_health.identity.crypto import DecryptionError
from gansu_health.identity.keys import FieldCipher
from gansu_health.identity.reencrypt import ReencryptStats, Row, walk_table
from gansu_health.identity.rekey import (
    Progress,
    RekeyTarget,
    count_by_key,
    counter,
    lock_resources,
    opened,
    register,
    stale_tag,
)
from gansu_health.mpi import repository as repo
from gansu_health.mpi.engine import blocking_keys
from gansu_health.mpi.identity import check_identity
from gansu_health.mpi.models import mpi_block_key, mpi_identifier, mpi_record
from gansu_health.mpi.protect import source_identifiers
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


def reseal(mpi: MpiService, conn: Connection, stored: Stored, row: Row) -> None:
    """Write a source record's rows again under the active keys, keeping its features."""
    features = mpi.vault.open_features(stored.fid, bytes(row["features"]))
    body = stored.json()
    check = check_identity(body, reject=False)  # normalises the body as registration did
    repo.save_record(conn, mpi.vault.rows(mpi.node, stored.fid, features, check.resident_id,
                                          row["verified"], blocking_keys(features),
                                          source_identifiers(body), repo.now_us()))


def rekey_target(mpi: MpiService, cipher: FieldCipher) -> RekeyTarget:
    """Return the MPI's re-key target: its indexed source records."""
    store = mpi.store

    def run(engine: Engine, start: Any, full: bool, batch: int, progress: Progress | None
            ) -> ReencryptStats:
        def handle(conn: Connection, rows: list[Row], stats: ReencryptStats) -> None:
            fids = {r["patient_id"] for r in rows} if full else _stale(conn, cipher, rows)
            rids = store.rids_of(conn, [("Patient", fid) for fid in sorted(fids)])
            lock_resources(conn, rids)
            by_fid = {r["patient_id"]: r for r in rows}
            for stored in opened(store, conn, rids, stats):
                try:
                    reseal(mpi, conn, stored, by_fid[stored.fid])
                except DecryptionError as exc:
                    stats.failed.append(f"mpi_record of Patient/{stored.fid}: {exc}")
                    continue
                stats.rewritten += 1

        return walk_table(engine, mpi_record, "patient_id", ["patient_id", "features", "verified"],
                          handle, batch=batch, start=start, progress=progress)

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
