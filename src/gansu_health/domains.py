"""The domains plugged into the platform, in dependency order (each below the next)."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gansu_health.fhir.rest.dispatch import FhirApi

# each module has ``setup(api)``: it registers operations, write hooks and event subscribers
DOMAIN_MODULES = ("gansu_health.identity.fields", "gansu_health.registry.setup",
                  "gansu_health.mpi.setup", "gansu_health.identity.setup",
                  "gansu_health.scheduling.setup", "gansu_health.card.setup",
                  "gansu_health.payment.setup", "gansu_health.notifications.setup",
                  "gansu_health.indicators.setup")
# modules whose tables Alembic must see
MODEL_MODULES = ("gansu_health.fhir.storage.tables", "gansu_health.core.events",
                 "gansu_health.mpi.models", "gansu_health.identity.audit.models",
                 "gansu_health.identity.tokens.models", "gansu_health.identity.oauth.models",
                 "gansu_health.identity.accounts.models", "gansu_health.scheduling.models",
                 "gansu_health.card.models", "gansu_health.payment.models",
                 "gansu_health.notifications.models")


def _present(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def import_models() -> None:
    """Import every module that declares tables, so that the metadata is complete."""
    for name in MODEL_MODULES:
        if _present(name):
            importlib.import_module(name)


def setups() -> list[Callable[[FhirApi], None]]:
    """Return the setup function of every domain that is present."""
    return [importlib.import_module(name).setup for name in DOMAIN_MODULES if _present(name)]
