"""Turning events into messages, and delivering them with retries and a dead letter.

The outbox subscriber (``on_event``) runs inside the delivery transaction: it stores each message
once (per source, kind and patient), writes its FHIR Communication (the patient's inbox, status
``in-progress``) and queues one delivery per channel. ``dispatch`` sends due deliveries outside
any transaction — claimed first with a lease so two dispatchers never send the same one — and
records the outcome: sent; failed and retried after ``base_s · 2^(attempts-1)`` seconds (capped
at an hour); or dead after ``max_attempts`` tries or a permanent failure (event
``notifications.delivery.dead``). The Communication becomes ``completed`` when a channel
delivered it and ``not-done`` when every channel gave up. ``remind`` queues the waiting-room
reminders of slots starting within ``lead_minutes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import read_transaction, write_transaction
from gansu_health.core.events import Event, emit
from gansu_health.fhir.storage.repository import ResourceStore, WriteItem, new_id
from gansu_health.notifications import repository as repo
from gansu_health.notifications import templates
from gansu_health.notifications.channels import DeliveryError, Notifier, Outgoing
from gansu_health.notifications.models import notify_message
from gansu_health.payment.repository import insert_once
from gansu_health.scheduling.resources import BASE, instant

CS_NOTICE = f"{BASE}/CodeSystem/notification-kind"
SYS_WECHAT = f"{BASE}/sid/wechat-openid"
MAX_BACKOFF_S = 3600


@dataclass
class DispatchReport:
    """What one dispatch round did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0


class Notifications:
    """Messages of one node."""

    def __init__(self, store: ResourceStore, node: str, zone: ZoneInfo,
                 channels: list[Notifier], *, max_attempts: int = 6, base_s: float = 30,
                 lease_s: float = 120) -> None:
        self.store = store
        self.node = node
        self.zone = zone
        self.channels = {c.name: c for c in channels}
        self.max_attempts = max_attempts
        self.base_s = base_s
        self.lease_s = lease_s

    # ---- making messages -----------------------------------------------------------------

    def on_event(self, conn: Connection, event: Event) -> None:
        """Outbox subscriber: store the messages an event makes."""
        for draft in templates.render(conn, event, self.zone, self.language):
            self.create(conn, f"outbox:{event.id}", draft)

    def create(self, conn: Connection, source: str, draft: templates.Draft) -> str | None:
        """Store a message once; answer its Communication id (None when it existed)."""
        fid, at = new_id(), to_micros(now())
        if not insert_once(conn, notify_message, {
                "id": fid, "node": self.node, "source": source, "kind": draft.kind,
                "patient": draft.patient, "about": draft.about, "title": draft.title,
                "body": draft.text, "status": "pending", "created_us": at, "updated_us": at}):
            return None
        self._communication(conn, repo.message(conn, fid), "in-progress")
        repo.insert_deliveries(conn, fid, sorted(self.channels), self.node, at)
        return fid

    def _communication(self, conn: Connection, row: Any, status: str,
                       reason: str | None = None) -> None:
        body: dict[str, Any] = {
            "resourceType": "Communication", "id": row.id, "status": status,
            "category": [{"coding": [{"system": CS_NOTICE, "code": row.kind}],
                          "text": row.title}],
            "subject": {"reference": f"Patient/{row.patient}"},
            "recipient": [{"reference": f"Patient/{row.patient}"}],
            "topic": {"text": row.title}, "payload": [{"contentString": row.body}]}
        if row.about:
            body["about"] = [{"reference": row.about}]
        if status == "completed":
            body["sent"] = instant(row.updated_us, self.zone)
        if reason:
            body["statusReason"] = {"text": reason[:255]}
        self.store.write_many(conn, [WriteItem(body, row.id)])

    def remind(self, conn: Connection, now_us: int | None = None, lead_minutes: int = 60
               ) -> int:
        """Queue waiting-room reminders for slots starting within ``lead_minutes``."""
        moment = now_us if now_us is not None else to_micros(now())
        made = 0
        for fid in repo.due_reminders(conn, moment, moment + lead_minutes * 60_000_000):
            draft = templates.reminder(conn, fid, self.zone, arrived=False,
                                       language=self.language)
            if draft and self.create(conn, f"reminder:{fid}", draft):
                made += 1
        return made

    # ---- delivering ----------------------------------------------------------------------

    def language(self, conn: Connection, patient: str) -> str:
        """The language a patient's messages are written in ("zh" unless they prefer English)."""
        body = self._patient(conn, patient)
        return templates.preferred_language(body) if body else "zh"

    def _patient(self, conn: Connection, patient: str) -> dict[str, Any] | None:
        current = self.store.current(conn, "Patient", patient)
        if current is None or current[2]:
            return None
        return self.store.read(conn, "Patient", patient).json()

    def _contacts(self, conn: Connection, patient: str) -> tuple[str | None, str | None]:
        body = self._patient(conn, patient)
        if body is None:
            return None, None
        phone = next((t.get("value") for t in body.get("telecom") or []
                      if t.get("system") in ("phone", "sms") and t.get("use") != "work"), None)
        openid = next((i.get("value") for i in body.get("identifier") or []
                       if i.get("system") == SYS_WECHAT), None)
        return phone, openid

    def dispatch(self, engine: Engine, now_us: int | None = None, limit: int = 200
                 ) -> DispatchReport:
        """Send due deliveries; record sent, retried and dead ones."""
        moment = now_us if now_us is not None else to_micros(now())
        with read_transaction(engine) as conn:
            if not repo.has_due(conn, moment):
                return DispatchReport()
        with write_transaction(engine) as conn:
            claimed = repo.claim_due(conn, moment, int(self.lease_s * 1_000_000), limit)
            work = [(row, Outgoing(row.message, row.kind, row.patient, row.title, row.body,
                                   *self._contacts(conn, row.patient))) for row in claimed]
        outcomes: list[tuple[Any, str | None, bool]] = []
        for row, out in work:
            channel = self.channels.get(row.channel)
            try:
                if channel is None:
                    raise DeliveryError(f"channel '{row.channel}' is not configured",
                                        permanent=True)
                channel.send(out)
                outcomes.append((row, None, False))
            except DeliveryError as exc:
                outcomes.append((row, str(exc) or type(exc).__name__, exc.permanent))
            except Exception as exc:  # a broken adapter is retried like a transient failure
                outcomes.append((row, f"{type(exc).__name__}: {exc}", False))
        report = DispatchReport()
        with write_transaction(engine) as conn:
            for row, error, permanent in outcomes:
                self._record(conn, row, error, permanent, moment, report)
            for message in sorted({row.message for row, _, _ in outcomes}):
                self._settle_message(conn, message, moment)
        return report

    def _record(self, conn: Connection, row: Any, error: str | None, permanent: bool,
                moment: int, report: DispatchReport) -> None:
        attempts = row.attempts + 1
        if error is None:
            repo.update_delivery(conn, row.id, status="sent", attempts=attempts, sent_us=moment,
                                 last_error=None)
            report.sent += 1
        elif permanent or attempts >= self.max_attempts:
            repo.update_delivery(conn, row.id, status="dead", attempts=attempts,
                                 last_error=error[:255])
            emit(conn, "notifications.delivery.dead", {
                "message": f"Communication/{row.message}", "channel": row.channel,
                "patient": f"Patient/{row.patient}", "attempts": attempts, "error": error[:255]},
                 self.node)
            report.dead += 1
        else:
            delay = min(self.base_s * 2 ** (attempts - 1), MAX_BACKOFF_S)
            repo.update_delivery(conn, row.id, attempts=attempts, last_error=error[:255],
                                 next_us=moment + int(delay * 1_000_000))
            report.retried += 1

    def _settle_message(self, conn: Connection, fid: str, moment: int) -> None:
        deliveries = repo.deliveries_of(conn, fid)
        states = {d.status for d in deliveries}
        status = "sent" if "sent" in states else "dead" if states == {"dead"} else "pending"
        row = repo.message(conn, fid)
        if row is None or row.status == status:
            return
        repo.set_message_status(conn, fid, status, moment)
        errors = "; ".join(f"{d.channel}: {d.last_error}" for d in deliveries if d.last_error)
        self._communication(conn, repo.message(conn, fid),
                            {"sent": "completed", "dead": "not-done"}.get(status, "in-progress"),
                            errors if status == "dead" else None)
