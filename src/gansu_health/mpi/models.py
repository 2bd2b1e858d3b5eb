"""Tables of the master patient index. Every row carries ``node``, the data centre it belongs to.

``mpi_record`` holds the matching features of each *source* Patient (never of golden records),
``mpi_block_key`` its blocking keys (candidate lookup is one indexed query on ``key``) and
``mpi_identifier`` its identifiers (PIXm lookups). ``mpi_golden`` lists the golden records (the
ids of their Person resources) with their enterprise id; ``mpi_link`` ties sources to golden
records (MATCH / POSSIBLE_MATCH / NO_MATCH, AUTO or MANUAL) and ``mpi_link_history`` keeps
every change of a link.
``mpi_merge`` records golden-record merges so that they can be undone, and ``mpi_not_duplicate``
the pairs a data steward declared distinct. With field encryption on, features are sealed and
keys, identifier values and resident ids are HMAC-SM3 blind indexes (``mpi.protect``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from gansu_health.core.database import metadata

BIGID = BigInteger().with_variant(Integer(), "sqlite")
FID = 64  # length of a FHIR logical id

mpi_record = Table(
    "mpi_record",
    metadata,
    Column("patient_id", String(FID), primary_key=True),
    Column("node", String(16), nullable=False),
    Column("features", LargeBinary, nullable=False),
    Column("resident_id", String(18), nullable=True, index=True),
    Column("verified", Boolean, nullable=False, default=True),
    Column("updated_us", BigInteger, nullable=False),
)

mpi_block_key = Table(
    "mpi_block_key",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(16), nullable=False),
    Column("key", String(128), nullable=False),
    Column("patient_id", String(FID), nullable=False),
    Index("ix_mpi_block_key_key", "key", "patient_id"),
    Index("ix_mpi_block_key_patient", "patient_id"),
)

mpi_identifier = Table(
    "mpi_identifier",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(16), nullable=False),
    Column("patient_id", String(FID), nullable=False),
    Column("system", String(255), nullable=False),
    Column("value", String(255), nullable=False),
    Index("ix_mpi_identifier_lookup", "system", "value"),
    Index("ix_mpi_identifier_patient", "patient_id"),
)

mpi_golden = Table(
    "mpi_golden",
    metadata,
    Column("golden_id", String(FID), primary_key=True),
    Column("node", String(16), nullable=False),
    Column("empi_id", String(64), nullable=False),
    Column("status", String(16), nullable=False, default="active"),  # active|redirected
    Column("redirect_to", String(FID), nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("uq_mpi_golden_empi", "empi_id", unique=True),
)

mpi_link = Table(
    "mpi_link",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(16), nullable=False),
    Column("source_id", String(FID), nullable=False),
    Column("golden_id", String(FID), nullable=False),
    Column("match_result", String(16), nullable=False),  # MATCH|POSSIBLE_MATCH|NO_MATCH
    Column("link_source", String(8), nullable=False),  # AUTO|MANUAL
    Column("score", Float, nullable=True),
    Column("grade", String(16), nullable=True),
    Column("model_version", String(32), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("uq_mpi_link_pair", "source_id", "golden_id", unique=True),
    Index("ix_mpi_link_golden", "golden_id", "match_result"),
    Index("ix_mpi_link_result", "match_result", "score"),
)

mpi_link_history = Table(
    "mpi_link_history",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(16), nullable=False),
    Column("link_id", BigInteger, nullable=False),
    Column("source_id", String(FID), nullable=False),
    Column("golden_id", String(FID), nullable=False),
    Column("match_result", String(16), nullable=False),
    Column("link_source", String(8), nullable=False),
    Column("score", Float, nullable=True),
    Column("grade", String(16), nullable=True),
    Column("model_version", String(32), nullable=False),
    Column("action", String(16), nullable=False),  # created|changed|deleted
    Column("reason", String(64), nullable=False),
    Column("changed_us", BigInteger, nullable=False),
    Index("ix_mpi_link_history_source", "source_id"),
    Index("ix_mpi_link_history_golden", "golden_id"),
)

mpi_merge = Table(
    "mpi_merge",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(16), nullable=False),
    Column("from_id", String(FID), nullable=False),
    Column("to_id", String(FID), nullable=False),
    Column("from_version", Integer, nullable=False),  # golden versions before the merge
    Column("to_version", Integer, nullable=False),
    Column("moved", LargeBinary, nullable=False),  # JSON: the links moved from → to
    Column("state", String(8), nullable=False),  # merged|undone
    Column("created_us", BigInteger, nullable=False),
    Column("undone_us", BigInteger, nullable=True),
    Index("ix_mpi_merge_from", "from_id"),
    Index("ix_mpi_merge_to", "to_id"),
)

mpi_not_duplicate = Table(
    "mpi_not_duplicate",
    metadata,
    Column("id", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(16), nullable=False),
    Column("a_id", String(FID), nullable=False),  # a_id < b_id
    Column("b_id", String(FID), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Index("uq_mpi_not_duplicate_pair", "a_id", "b_id", unique=True),
)
