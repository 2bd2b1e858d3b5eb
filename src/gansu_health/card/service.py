"""Issuing, revoking and reissuing cards, and making their QR codes.

One active card per MPI person: it is filed under the golden record (``card.active_golden``,
unique), so asking again from any of the person's Patient records — or a family account —
returns the same card. Revoking (lost, stolen, damaged…) stops the card and every code made
for it at once; reissuing gives a new card id in the same transaction and keeps the PIN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from gansu_health.card import codes, ids, people
from gansu_health.card import repository as repo
from gansu_health.card.codes import CardKeys, CodeKind, Payload
from gansu_health.card.people import Person
from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import BadRequest, NotFound
from gansu_health.fhir.service import FhirService
from gansu_health.identity.keys import FieldCipher

REVOKE_REASONS = ("lost", "stolen", "damaged", "deceased", "other")
_PIN = re.compile(r"^\d{6}$")


@dataclass(frozen=True, slots=True)
class Code:
    """A code made for a card: its text, what it carries, and the card."""

    text: str
    payload: Payload
    card: Any


class CardService:
    """The card-management system (卡管) of one node."""

    def __init__(self, service: FhirService, node: str, keys: CardKeys, cipher: FieldCipher,
                 dynamic_ttl_s: int) -> None:
        self.service = service
        self.node = node
        self.keys = keys
        self.cipher = cipher
        self.dynamic_ttl_s = dynamic_ttl_s

    # ---- second factor of static codes ---------------------------------------------------

    def factor_digest(self, golden_id: str, pin: str) -> str:
        """``<index kid>:HMAC-SM3`` of a PIN, bound to the person (kept across reissues)."""
        return self.cipher.tagged_index(f"card-pin|{golden_id}|{pin}")

    def factor_matches(self, golden_id: str, stored: str, given: str) -> bool:
        """Whether ``given`` is the PIN whose digest is ``stored`` (under any index key)."""
        return stored in self.cipher.tagged_indexes(f"card-pin|{golden_id}|{given}")

    @staticmethod
    def check_pin(pin: str | None) -> str | None:
        """Return a valid 6-digit PIN (or None), else raise naming ``pin``."""
        if pin is None:
            return None
        if not _PIN.match(pin):
            raise BadRequest("The card PIN must be exactly 6 digits", expression="pin")
        return pin

    # ---- issue, revoke, reissue ------------------------------------------------------------

    def person(self, conn: Connection, patient: str) -> Person:
        """The MPI person behind ``Patient/{patient}`` (404 for an unknown Patient)."""
        found = self.service.store.current(conn, "Patient", patient)
        if found is None or found[2]:
            raise NotFound(f"Patient/{patient} is not known", expression="patient")
        return people.of_patient(conn, patient)

    def issue(self, conn: Connection, patient: str, issued_by: str, pin: str | None = None
              ) -> tuple[Any, bool]:
        """Return the person's active card, issuing one first; True when it is new."""
        pin = self.check_pin(pin)
        person = self.person(conn, patient)
        existing = repo.active_of(conn, people.goldens(conn, person), lock=True)
        if existing is not None:
            if pin is not None:
                repo.set_factor(conn, existing.card_id,
                                self.factor_digest(existing.golden_id, pin))
                existing = repo.get(conn, existing.card_id)
            return existing, False
        factor = self.factor_digest(person.golden_id, pin) if pin else None
        return self._new(conn, person, patient, issued_by, factor)

    def _new(self, conn: Connection, person: Person, patient: str, issued_by: str,
             factor: str | None) -> tuple[Any, bool]:
        card_id = ids.make_card_id(self.node, repo.next_sequence(conn, self.node))
        inserted = repo.insert_card(conn, {
            "card_id": card_id, "node": self.node, "golden_id": person.golden_id,
            "empi_id": person.empi_id, "patient": patient, "status": "active",
            "active_golden": person.golden_id, "issued_us": to_micros(now()),
            "issued_by": issued_by[:128], "factor": factor, "factor_failures": 0})
        if not inserted:  # issued concurrently by another request: that card is the one
            found = repo.active_of(conn, people.goldens(conn, person))
            if found is None:
                raise NotFound(f"Card {card_id} could not be filed", expression="patient")
            return found, False
        return repo.get(conn, card_id), True

    def active(self, conn: Connection, patient: str) -> tuple[Person, Any]:
        """The person of ``patient`` and their active card; 404 when they hold none."""
        person = self.person(conn, patient)
        row = repo.active_of(conn, people.goldens(conn, person))
        if row is None:
            raise NotFound(f"Patient/{patient} holds no active e-health card; request one with "
                           f"Patient/{patient}/$card-issue", expression="patient")
        return person, row

    def revoke(self, conn: Connection, patient: str, reason: str, actor: str, *,
               reissue: bool) -> tuple[Any, Any | None]:
        """Revoke the person's active card; with ``reissue`` issue its replacement at once."""
        if reason not in REVOKE_REASONS:
            raise BadRequest(f"Unknown revocation reason '{reason}'; use one of "
                             f"{', '.join(REVOKE_REASONS)}", expression="reason")
        person, old = self.active(conn, patient)
        repo.revoke(conn, old.card_id, at_us=to_micros(now()), reason=reason)
        if not reissue or reason == "deceased":
            return repo.get(conn, old.card_id), None
        new, _ = self._new(conn, person, patient, actor, old.factor)
        repo.set_replaced_by(conn, old.card_id, new.card_id)
        return repo.get(conn, old.card_id), new

    # ---- codes -----------------------------------------------------------------------------

    def code(self, conn: Connection, patient: str, kind: CodeKind) -> Code:
        """Make a dynamic code (lives ``dynamic_ttl_s``) or the static code of the card."""
        _, row = self.active(conn, patient)
        issued_s = to_micros(now()) // 1_000_000
        expires_s = issued_s + self.dynamic_ttl_s if kind == "dynamic" else 0
        text, payload = codes.encode(self.keys, kind, row.card_id, issued_s, expires_s)
        return Code(text, payload, row)
