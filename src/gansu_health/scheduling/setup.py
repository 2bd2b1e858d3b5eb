"""Plug the number-source pool into a FhirApi (found by domains.py).

The pool's own tables are the source of truth; its FHIR Schedule, Slot and Appointment resources
are written in the same transaction by the booking engine (see ``resources.py``), and guarded
against direct client writes. Jobs (release, reserve return, hold expiry, waitlist closing,
no-shows) run from ``gansu-health scheduling run-jobs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from gansu_health.scheduling import admin_ops, desk_ops, operations, resources
from gansu_health.scheduling.booking import Scheduler

if TYPE_CHECKING:
    from gansu_health.fhir.rest.dispatch import FhirApi


def setup(api: FhirApi) -> None:
    """Register the booking operations and the guards on Schedule, Slot and Appointment."""
    store = api.service.store
    for rtype in ("Schedule", "Slot", "Appointment"):
        store.on_before_write(rtype, resources.guard_write)
        store.on_after_write(rtype, resources.guard_delete)
    operations.attach(api, Scheduler(store, api.settings.node_id, ZoneInfo(api.settings.timezone)))
    operations.register(api.registry)
    admin_ops.register(api.registry)
    desk_ops.register(api.registry)
