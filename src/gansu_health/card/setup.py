"""Plug the electronic health card into a FhirApi (found by domains.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from gansu_health.card import merges, operations
from gansu_health.card.codes import CardKeys
from gansu_health.card.service import CardService
from gansu_health.card.verify import Verifier
from gansu_health.identity.keys import FieldCipher, key_provider

if TYPE_CHECKING:
    from gansu_health.fhir.rest.dispatch import FhirApi


def setup(api: FhirApi) -> None:
    """Register the card operations, with code keys from the platform's key provider."""
    settings = api.settings
    provider = key_provider(settings)
    cards = CardService(api.service, settings.node_id, CardKeys(provider), FieldCipher(provider),
                        settings.card_dynamic_qr_ttl_s)
    operations.attach(api, Verifier(cards, ZoneInfo(settings.timezone)))
    operations.register(api.registry)
    api.events.subscribe("card.merges", "mpi.golden.", merges.on_event)
