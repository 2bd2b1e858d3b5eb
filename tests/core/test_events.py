"""The transactional outbox and the store's write hooks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from gansu_health.core.database import build_engine, write_transaction
from gansu_health.core.events import EventBus, emit
from gansu_health.core.settings import Settings
from gansu_health.fhir.setup import build_service
from gansu_health.fhir.storage.repository import Stored


def test_outbox_delivers_committed_events_once(settings: Settings) -> None:
    engine = build_engine(settings.database_url, settings)
    bus = EventBus()
    seen: list[tuple[str, Any]] = []
    bus.subscribe("audit-test", "mpi.", lambda _c, e: seen.append((e.topic, e.payload["n"])))
    with write_transaction(engine) as conn:
        emit(conn, "mpi.link.changed", {"n": 1}, settings.node_id)
        emit(conn, "other.topic", {"n": 2}, settings.node_id)
    try:
        with write_transaction(engine) as conn:
            emit(conn, "mpi.link.changed", {"n": 3}, settings.node_id)
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert bus.deliver(engine, settings.node_id) == 1
    assert seen == [("mpi.link.changed", 1)]
    assert bus.deliver(engine, settings.node_id) == 0
    with write_transaction(engine) as conn:
        emit(conn, "mpi.link.changed", {"n": 4}, settings.node_id)
    bus.deliver(engine, settings.node_id)
    assert [n for _, n in seen] == [1, 4]
    engine.dispose()


def test_write_hooks_see_and_amend(settings: Settings) -> None:
    engine = build_engine(settings.database_url, settings)
    service = build_service(settings)
    stored_seen: list[Stored] = []

    def stamp(_conn: Connection, body: dict[str, Any], is_new: bool) -> None:
        body.setdefault("identifier", []).append({"system": "urn:test:new", "value": str(is_new)})

    service.store.on_before_write("Patient", stamp)
    service.store.on_after_write("Patient", lambda _c, s: stored_seen.extend(s))
    with write_transaction(engine) as conn:
        first = service.store.write(conn, {"resourceType": "Patient"})
        service.store.write(conn, {"resourceType": "Patient", "id": first.fid})
        service.store.write(conn, {"resourceType": "Observation", "status": "final",
                                   "code": {"text": "x"}})
        service.store.delete(conn, "Patient", first.fid)
    assert [s.method for s in stored_seen] == ["create", "update", "delete"]
    assert first.json()["identifier"] == [{"system": "urn:test:new", "value": "True"}]
    engine.dispose()
