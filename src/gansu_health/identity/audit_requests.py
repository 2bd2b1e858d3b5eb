"""Audit rows of FHIR requests (IHE BALP style): who, which patient, what, why, the outcome —
one row per request, or one per patient when it touched several.

Rows are appended by a writer thread in batches (one transaction per batch, every
``audit_flush_ms``), so a request does not wait for its own write transaction — on PostgreSQL
that alone costs 0.7–2 ms. Each row keeps the moment of its request. ``flush`` drains the queue
at once (the access log does so before it reads; shutdown does too). With ``audit_flush_ms = 0``
every row is written before the response is sent.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import replace
from itertools import islice

from sqlalchemy import Engine

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import write_transaction
from gansu_health.fhir.rest.dispatch import FhirRequest
from gansu_health.identity.audit.repository import AuditRecord, record_many
from gansu_health.identity.principal import Principal

ETREAT = "ETREAT"  # v3 ActReason: emergency treatment (break-glass)
BATCH = 500
log = logging.getLogger(__name__)


def outcome_of(status: int) -> int:
    """The AuditEvent outcome for an HTTP status (0 success, 4 minor, 8 serious failure)."""
    if status < 400:
        return 0
    return 4 if status < 500 else 8


def actor_of(who: Principal) -> tuple[str, str | None, str | None]:
    """(actor_type, actor_id, actor_name) as the audit table keeps them."""
    if who.kind == "citizen":
        return ("Patient", who.patient, who.display or who.subject) if who.patient else (
            "citizen", who.subject, who.display)
    if who.kind == "staff":
        return ("Practitioner", who.practitioner, who.display or who.subject) if (
            who.practitioner) else ("staff", who.subject, who.display)
    return who.kind, who.client_id or who.subject, who.display or who.subject


def request_events(req: FhirRequest, status: int, node: str) -> list[AuditRecord]:
    """The audit events of a finished request: one, or one per patient it touched (as IHE BALP
    asks of queries answering for several patients, so each finds it in their access log)."""
    who: Principal = req.principal
    note = req.access
    actor_type, actor_id, actor_name = actor_of(who)
    patients = sorted(note.patients)
    query = note.query
    if len(patients) > 1:
        query = f"{query or ''} [{len(patients)} patients]".strip()
    base = AuditRecord(
        action=note.action, subtype=note.subtype or "request", actor_type=actor_type,
        actor_id=actor_id, actor_name=actor_name, resource_type=note.resource_type,
        resource_id=note.resource_id, query=query,
        purpose_of_use=ETREAT if who.break_glass else None, outcome=outcome_of(status),
        source_ip=req.client_ip, user_agent=req.headers.get("user-agent"),
        break_glass=who.break_glass is not None, reason=who.break_glass, node=node,
        recorded_us=to_micros(now()))
    return [replace(base, patient_id=patient) for patient in patients] or [base]


class RequestAuditor:
    """Appends the audit rows of requests to the SM3-chained trail, in batches."""

    def __init__(self, engine: Engine, node: str, flush_ms: int = 50) -> None:
        self.engine = engine
        self.node = node
        self.interval = flush_ms / 1000
        self._queue: deque[AuditRecord] = deque()
        self._lock = threading.Lock()  # one writer at a time keeps the batches in order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, req: FhirRequest, status: int) -> None:
        """Queue (or, unbatched, write) the row for ``req``, which ended with ``status``."""
        events = request_events(req, status, self.node)
        if self.interval <= 0:
            with write_transaction(self.engine) as conn:
                record_many(conn, events)
            return
        self._queue.extend(events)
        if self._thread is None or not self._thread.is_alive():
            self._start()
        if len(self._queue) >= BATCH:
            self._wake.set()

    def flush(self) -> int:
        """Write every queued row now; return how many."""
        written = 0
        with self._lock:
            while self._queue:
                batch = list(islice(self._queue, BATCH))
                with write_transaction(self.engine) as conn:
                    record_many(conn, batch)
                for _ in batch:  # dropped only once written: a failed batch is retried
                    self._queue.popleft()
                written += len(batch)
        return written

    def close(self) -> None:
        """Stop the writer thread after writing what is queued."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="audit-writer",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the rows stay queued and are retried on the next beat
                log.exception("writing audit rows failed; retrying")
