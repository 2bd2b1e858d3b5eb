"""Plug notifications into a FhirApi (found by domains.py): the outbox subscriber that makes
messages, and the round jobs that queue waiting-room reminders and dispatch due deliveries."""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import read_transaction, write_transaction
from gansu_health.notifications import repository as repo
from gansu_health.notifications.channels import build_channels
from gansu_health.notifications.service import Notifications

if TYPE_CHECKING:
    from gansu_health.fhir.rest.dispatch import FhirApi

_SERVICES: WeakKeyDictionary[Any, Notifications] = WeakKeyDictionary()
_LAST_REMIND: WeakKeyDictionary[Notifications, float] = WeakKeyDictionary()
REMIND_EVERY_S = 60.0
LEAD_MINUTES = 60


def notifications_of(api: Any) -> Notifications:
    """The notifications service of a FHIR endpoint."""
    return _SERVICES[api]


def run_round(service: Notifications, engine: Engine) -> None:
    """Queue reminders (at most once a minute, and only when some are due) and send what is
    due (the app's delivery thread calls this every round)."""
    moment = to_micros(now())
    if monotonic() - _LAST_REMIND.get(service, -REMIND_EVERY_S) >= REMIND_EVERY_S:
        _LAST_REMIND[service] = monotonic()
        with read_transaction(engine) as conn:
            due = repo.due_reminders(conn, moment, moment + LEAD_MINUTES * 60_000_000, limit=1)
        if due:
            with write_transaction(engine) as conn:
                service.remind(conn, moment, LEAD_MINUTES)
    service.dispatch(engine, moment)


def setup(api: FhirApi) -> None:
    """Subscribe to every event and register the dispatch round."""
    settings = api.settings
    service = Notifications(api.service.store, settings.node_id, ZoneInfo(settings.timezone),
                            build_channels(settings))
    _SERVICES[api] = service
    api.events.subscribe("notifications", "", service.on_event)
    api.events.every_round("notifications.dispatch", lambda engine: run_round(service, engine))
