"""Database engines and transactions: SQLite (WAL, serialised writers) or PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from psycopg import pq
from sqlalchemy import BigInteger, Connection, Engine, Integer, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url

from gansu_health.core.settings import Settings, get_settings

T = TypeVar("T")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)
# a 64-bit key that is SQLite's rowid alias (INTEGER PRIMARY KEY) on SQLite
BIGID = BigInteger().with_variant(Integer(), "sqlite")


def is_sqlite(conn: Connection | Engine) -> bool:
    """Tell whether a connection or engine speaks SQLite."""
    return conn.dialect.name == "sqlite"


def _sqlite_engine(url: str, settings: Settings) -> Engine:
    db_path = make_url(url).database
    if db_path and db_path != ":memory:":
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=settings.sql_echo,
        connect_args={"check_same_thread": False,
                      "timeout": settings.sqlite_busy_timeout_ms / 1000},
        pool_size=settings.db_pool_size,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={settings.sqlite_busy_timeout_ms}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.info.get("begin_mode", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def build_engine(url: str | None = None, settings: Settings | None = None) -> Engine:
    """Create an engine for ``url`` (default: the configured database)."""
    settings = settings or get_settings()
    url = url or settings.database_url
    if url.startswith("sqlite"):
        return _sqlite_engine(url, settings)
    return create_engine(url, echo=settings.sql_echo, pool_size=settings.db_pool_size,
                         max_overflow=20, pool_pre_ping=settings.db_pool_pre_ping,
                         pool_recycle=1800)


@lru_cache
def get_engine() -> Engine:
    """Return the process-wide engine for the configured database."""
    return build_engine()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """Open a write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE)."""
    with engine.connect() as conn:
        conn.info["begin_mode"] = "IMMEDIATE"
        conn.info.pop("txid", None)
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info["begin_mode"] = "DEFERRED"


@contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """Send the block's statements without waiting for each answer (PostgreSQL pipeline mode:
    one round trip when the block ends, or when ``fetch_rows`` needs an answer).

    Only writes and ``fetch_rows`` may run inside: a SQLAlchemy query there cannot see its
    rows. An error surfaces at the latest when the block ends. A no-op on SQLite and inside
    another block (which sends everything when it ends)."""
    if is_sqlite(conn) or in_pipeline(conn):
        yield
        return
    with _driver(conn).pipeline():
        yield


def in_pipeline(conn: Connection) -> bool:
    """Tell whether the connection is inside a ``pipelined`` block."""
    if is_sqlite(conn):
        return False
    status = _driver(conn).pgconn.pipeline_status
    return bool(status != pq.PipelineStatus.OFF)


def fetch_rows(conn: Connection, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run a driver-level query (``%s`` marks, ``?`` on SQLite) and return its rows; unlike a
    SQLAlchemy query it may run inside ``pipelined``."""
    if is_sqlite(conn):
        return [tuple(r) for r in conn.exec_driver_sql(sql.replace("%s", "?"), params)]
    with _driver(conn).cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def _driver(conn: Connection) -> Any:
    driver = conn.connection.driver_connection
    assert driver is not None
    return driver


def per_transaction(conn: Connection, key: str, factory: Callable[[], T], *,
                    reset: bool = False) -> T:
    """Return the value kept under ``key`` for the connection's current transaction (made by
    ``factory`` on first use in a transaction, or anew with ``reset``)."""
    txn = conn.get_transaction()
    holder = conn.info.get(key)
    if reset or holder is None or holder[0] is not txn:
        holder = (txn, factory())
        conn.info[key] = holder
    value: T = holder[1]
    return value


TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialisation failure


def is_transient(exc: BaseException) -> bool:
    """Tell whether a database error undid a transaction that may simply be tried again."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    return isinstance(orig, sqlite3.OperationalError) and "database is locked" in str(orig)


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """Open a read-only transaction (a consistent snapshot on both engines)."""
    with engine.connect() as conn, conn.begin():
        if not is_sqlite(conn):
            conn.execute(text("SET TRANSACTION READ ONLY"))
        yield conn


def warm_pool(engine: Engine, connections: int) -> int:
    """Open up to ``connections`` pooled connections now, so that the first burst of requests
    does not wait for them (PostgreSQL starts a process per connection); return how many."""
    if engine.dialect.name == "sqlite":
        return 0
    held = []
    try:
        for _ in range(connections):
            held.append(engine.connect())
    finally:
        for conn in held:
            conn.close()  # back to the pool, still open
    return len(held)


def analyze(engine: Engine) -> None:
    """Refresh the query planner's statistics (run after bulk loads)."""
    with engine.connect() as conn:
        if is_sqlite(conn):
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        conn.commit()
