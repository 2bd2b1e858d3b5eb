"""The MPI's own tables without plaintext: sealed features, keyed hashes for equality lookups.

Matching needs the features themselves (typo distances on resident ids and phones, fuzzy
addresses), so ``mpi_record.features`` is sealed with SM4-GCM, bound to its record id, and
opened when a candidate is scored. Blocking keys and identifiers are only compared for equality:
they are stored as HMAC-SM3 blind indexes, ``<kind>:<index key id>:<hex>`` for keys (``ph``,
``id``, ``bdfp``… stay readable, for statistics) and ``<index key id>:<hex>`` for identifier
values, and looked up under every index key, so a rotation needs no downtime.
``mpi_record.resident_id`` (18 characters wide) holds the first 18 hex digits of the resident
id's blind index. PIXm answers identifiers from the (opened) source Patients. Without a cipher
(field encryption turned off) everything is stored in clear, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from gansu_health.fhir.storage.repository import ResourceStore
from gansu_health.identity.keys import FieldCipher
from gansu_health.mpi.engine import Features
from gansu_health.mpi.matching import decode_features, encode_features
from gansu_health.mpi.settings import EMPI_SYSTEM

FEATURES_CONTEXT = "mpi_record.features"
SEALED = b"g1:"


@dataclass(slots=True)
class SourceRows:
    """The rows that index one source record: ``mpi_record``, its keys and identifiers."""

    record: dict[str, Any]
    keys: list[dict[str, Any]]
    identifiers: list[dict[str, Any]]


def source_identifiers(body: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the (system, value) identifiers of a source body, without the enterprise id."""
    return [(str(i["system"]), str(i["value"])) for i in body.get("identifier") or []
            if isinstance(i, dict) and i.get("system") and i.get("value")
            and i.get("system") != EMPI_SYSTEM]


class MpiVault:
    """Seals and blinds what the MPI stores; a vault without a cipher stores plaintext."""

    def __init__(self, cipher: FieldCipher | None = None) -> None:
        self.cipher = cipher

    def seal_features(self, fid: str, features: Features) -> bytes:
        """Serialise (and seal) a record's features for ``mpi_record.features``."""
        blob = encode_features(features)
        if self.cipher is None:
            return blob
        return self.cipher.encrypt(blob.decode(), f"{FEATURES_CONTEXT}|{fid}").encode("ascii")

    def open_features(self, fid: str, blob: bytes) -> Features:
        """Rebuild the features stored for ``fid`` (sealed or, from before, in clear)."""
        if self.cipher is not None and blob.startswith(SEALED):
            blob = self.cipher.decrypt(blob.decode("ascii"), f"{FEATURES_CONTEXT}|{fid}"
                                       ).encode()
        return decode_features(blob)

    def stored_keys(self, keys: Iterable[str]) -> list[str]:
        """Return blocking keys as stored: blind under the active index key."""
        if self.cipher is None:
            return sorted({k[:128] for k in keys})
        return sorted({f"{k.partition(':')[0]}:{self.cipher.tagged_index(k)}" for k in keys})

    def lookup_keys(self, keys: Iterable[str]) -> list[str]:
        """Return the stored forms of blocking keys under every index key (mid-rotation too)."""
        if self.cipher is None:
            return sorted(set(keys))
        return sorted({f"{k.partition(':')[0]}:{t}" for k in keys
                       for t in self.cipher.tagged_indexes(k)})

    def stored_identifier(self, system: str, value: str) -> str:
        """Return an identifier value as ``mpi_identifier`` stores it."""
        if self.cipher is None:
            return value[:255]
        return self.cipher.tagged_index(f"{system}|{value}")

    def lookup_identifier(self, system: str, value: str) -> list[str]:
        """Return the stored forms of an identifier value under every index key."""
        if self.cipher is None:
            return [value]
        return self.cipher.tagged_indexes(f"{system}|{value}")

    def rows(self, node: str, fid: str, features: Features, resident_id: str | None,
             verified: bool, keys: Sequence[str], identifiers: Sequence[tuple[str, str]],
             stamp: int) -> SourceRows:
        """Return the rows indexing a source record, sealed and blinded."""
        if resident_id is not None and self.cipher is not None:
            resident_id = self.cipher.blind_index(resident_id, "resident_id")[:18]
        record = {"patient_id": fid, "node": node, "features": self.seal_features(fid, features),
                  "resident_id": resident_id, "verified": verified, "updated_us": stamp}
        return SourceRows(
            record, [{"node": node, "key": k, "patient_id": fid}
                     for k in self.stored_keys(keys)],
            [{"node": node, "patient_id": fid, "system": s[:255],
              "value": self.stored_identifier(s, v)} for s, v in sorted(set(identifiers))])


def identifiers_of(store: ResourceStore, conn: Connection, fids: Sequence[str]
                   ) -> list[tuple[str, str, str]]:
    """Return (fid, system, value) of the identifiers of source records, from their Patients."""
    loaded = store.load_many(conn, store.rids_of(conn, [("Patient", f) for f in fids]))
    bodies = {s.fid: s.json() for s in loaded.values()}
    return [(fid, system, value) for fid in sorted(bodies)
            for system, value in sorted(set(source_identifiers(bodies[fid])))]
