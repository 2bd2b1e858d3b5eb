"""Tables of the FHIR store. Every row carries ``node``, the data centre it belongs to.

``resource`` points at the current version of each logical resource; ``resource_version`` keeps
every version (and is the system change feed, ordered by ``(txid, seq)``); the ``idx_*`` tables are
the typed search index of the current versions, one row per extracted value; ``grp`` ties together
the components of one composite value.
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
    SmallInteger,
    String,
    Table,
    true,
)

from gansu_health.core.database import BIGID, metadata


def _text(length: int) -> String:
    """A string column compared byte-wise on PostgreSQL, so prefix ranges use the index."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


resource = Table(
    "resource",
    metadata,
    Column("rid", BIGID, primary_key=True, autoincrement=True),
    Column("node", String(16), nullable=False),
    Column("rtype", _text(64), nullable=False),
    Column("fid", _text(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Index("uq_resource_type_id", "rtype", "fid", unique=True),
    Index("ix_resource_type_rid", "rtype", "rid"),
    Index("ix_resource_node", "node"),
)

resource_version = Table(
    "resource_version",
    metadata,
    Column("seq", BIGID, primary_key=True, autoincrement=True),
    Column("txid", BigInteger, nullable=False, default=0),
    Column("node", String(16), nullable=False),
    Column("rid", BigInteger, nullable=False),
    Column("rtype", _text(64), nullable=False),
    Column("fid", _text(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Column("method", String(8), nullable=False),
    Column("content", LargeBinary, nullable=True),
    Index("uq_version_rid_version", "rid", "version", unique=True),
    Index("ix_version_type_seq", "rtype", "seq"),
    Index("ix_version_updated", "updated_us"),
    Index("ix_version_feed", "txid", "seq"),
)


def _index_table(name: str, *columns: Column[object], keys: tuple[str, ...]) -> Table:
    table = Table(
        name,
        metadata,
        Column("rid", BigInteger, nullable=False),
        Column("node", String(16), nullable=False),
        Column("rtype", _text(64), nullable=False),
        Column("param", _text(96), nullable=False),
        Column("grp", SmallInteger, nullable=False, default=0),
        *columns,
    )
    Index(f"ix_{name}_rid", table.c.rid, table.c.param)
    Index(f"ix_{name}_lookup", table.c.rtype, table.c.param, *(table.c[k] for k in keys))
    return table


idx_string = _index_table(
    "idx_string",
    Column("value", _text(255), nullable=False),
    Column("exact", String(1024), nullable=False),
    keys=("value",),
)
idx_token = _index_table(
    "idx_token",
    Column("system", _text(255), nullable=True),
    Column("code", _text(255), nullable=True),
    Column("text", _text(255), nullable=True),
    keys=("code", "system"),
)
idx_date = _index_table(
    "idx_date",
    Column("lo", BigInteger, nullable=False),
    Column("hi", BigInteger, nullable=False),
    # how wide the range is (see search.values.span_class) and whether the resource has other
    # values for the parameter: together they turn a window ge…&lt… into bounded index scans
    Column("span", SmallInteger, nullable=False, server_default="4"),
    Column("multi", Boolean, nullable=False, server_default=true()),
    keys=("lo", "hi"),
)
Index("ix_idx_date_window", idx_date.c.rtype, idx_date.c.param, idx_date.c.multi,
      idx_date.c.span, idx_date.c.lo)
idx_number = _index_table(
    "idx_number",
    Column("value", Float, nullable=False),
    keys=("value",),
)
idx_quantity = _index_table(
    "idx_quantity",
    Column("system", _text(255), nullable=True),
    Column("code", _text(255), nullable=True),
    Column("value", Float, nullable=False),
    keys=("code", "value"),
)
idx_uri = _index_table(
    "idx_uri",
    Column("uri", _text(512), nullable=False),
    keys=("uri",),
)
idx_ref = _index_table(
    "idx_ref",
    Column("target_type", _text(64), nullable=True),
    Column("target_id", _text(64), nullable=True),
    Column("url", _text(512), nullable=True),
    keys=("target_id", "target_type"),
)
Index("ix_idx_ref_target", idx_ref.c.target_id, idx_ref.c.target_type, idx_ref.c.param)

INDEX_TABLES: dict[str, Table] = {
    "string": idx_string,
    "token": idx_token,
    "date": idx_date,
    "number": idx_number,
    "quantity": idx_quantity,
    "uri": idx_uri,
    "reference": idx_ref,
}
