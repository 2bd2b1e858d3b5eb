"""Verifying a scanned code at a hospital terminal, and the usage log (用卡记录).

A code is accepted when its SM2 signature verifies and its payload opens (else *forged*), its
card is known (*unknown-card*) and active (*revoked*), and — dynamic codes — it has not expired
(*expired*) and its nonce was never accepted before (*replayed*); static codes need the second
factor: the card's 6-digit PIN, or without one the last six characters of the resident id
(*factor-required*, *factor-wrong*; five wrong in a row lock static use for 15 minutes,
*factor-locked*). Every refusal of a known card is written to the usage log with its reason
(the holder sees attempts on their card) before ``CardRefused`` is raised; the caller commits.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from gansu_health.card import codes, people
from gansu_health.card import repository as repo
from gansu_health.card.codes import CodeError, Payload
from gansu_health.card.people import Person
from gansu_health.card.service import CardService
from gansu_health.card.steps import OUTCOME_SYSTEM, REASONS
from gansu_health.core.clock import now, to_micros
from gansu_health.core.errors import OutcomeIssue, PlatformError

SECOND_US = 1_000_000
MAX_FACTOR_FAILURES = 5
FACTOR_LOCK_US = 15 * 60 * SECOND_US


class CardRefused(PlatformError):
    """A code was refused; ``reason`` is a code of ``steps.REASONS``."""

    def __init__(self, reason: str, message: str) -> None:
        status, code, _ = REASONS[reason]
        super().__init__(message, issues=[OutcomeIssue("error", code, message, "code")])
        self.reason = reason
        self.status, self.code = status, code

    def outcome(self) -> dict[str, Any]:
        """The OperationOutcome, with the reason as a coded detail."""
        body = super().outcome()
        body["issue"][0]["details"] = {"coding": [{
            "system": OUTCOME_SYSTEM, "code": self.reason, "display": REASONS[self.reason][2]}]}
        return body


@dataclass(frozen=True, slots=True)
class Terminal:
    """Who scans: the institution, and the account or client acting for it."""

    organization: str | None
    actor: str
    actor_kind: str


@dataclass(frozen=True, slots=True)
class Verified:
    """An accepted code: the card, the person and the terminal institution's Patient."""

    card: Any
    payload: Payload
    person: Person
    local_patient: str | None


class Verifier:
    """Checks codes against the card tables and logs every use."""

    def __init__(self, cards: CardService, zone: ZoneInfo) -> None:
        self.cards = cards
        self.zone = zone

    def _local(self, micros: int) -> str:
        return datetime.fromtimestamp(micros / SECOND_US, self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def verify(self, conn: Connection, text: str, terminal: Terminal, step: str,
               factor: str | None = None) -> Verified:
        """Check a code; raise CardRefused (logged when the card is known) or return it."""
        try:
            payload = codes.decode(self.cards.keys, text)
        except CodeError as exc:
            raise CardRefused(exc.reason, str(exc)) from exc
        row = repo.get(conn, payload.card_id, lock=True)
        if row is None:
            raise CardRefused("unknown-card", f"Card {payload.card_id} is not known to this "
                                              "platform")
        now_us = to_micros(now())
        try:
            self._check(conn, row, payload, now_us, terminal, factor)
        except CardRefused as exc:
            self.log(conn, row, payload, terminal, step, outcome=exc.reason)
            raise
        person = people.current(conn, row.golden_id)
        local = people.local_patient(self.cards.service, conn, person, terminal.organization)
        return Verified(row, payload, person, local)

    def _check(self, conn: Connection, row: Any, payload: Payload, now_us: int,
               terminal: Terminal, factor: str | None) -> None:
        if row.status != "active":
            then = self._local(row.revoked_us or now_us)
            successor = (f"; the reissued card is {row.replaced_by}" if row.replaced_by
                         else "")
            raise CardRefused("revoked", f"Card {row.card_id} was revoked at {then} "
                                         f"({row.revoke_reason}); its codes no longer work"
                                         f"{successor}")
        if payload.kind == "dynamic":
            self._check_dynamic(conn, row, payload, now_us, terminal)
        else:
            self._check_factor(conn, row, now_us, factor)

    def _check_dynamic(self, conn: Connection, row: Any, payload: Payload, now_us: int,
                       terminal: Terminal) -> None:
        expires_us = payload.expires_s * SECOND_US
        if now_us >= expires_us:
            raise CardRefused("expired", f"The dynamic QR code expired at "
                                         f"{self._local(expires_us)} (it lives "
                                         f"{payload.expires_s - payload.issued_s} s); show a "
                                         "fresh code")
        earlier = repo.claim_nonce(conn, self.cards.node, row.card_id, payload.nonce_hex,
                                   now_us=now_us, expires_us=expires_us,
                                   organization=terminal.organization)
        if earlier is not None:
            where = f" by Organization/{earlier.organization}" if earlier.organization else ""
            raise CardRefused("replayed", f"This dynamic QR code was already used at "
                                          f"{self._local(earlier.used_us)}{where}; a code is "
                                          "good for one scan, show a fresh code")

    def _check_factor(self, conn: Connection, row: Any, now_us: int,
                      factor: str | None) -> None:
        if row.factor_locked_us and row.factor_locked_us > now_us:
            raise CardRefused("factor-locked", f"Static use of card {row.card_id} is locked "
                                               f"until {self._local(row.factor_locked_us)} "
                                               "after repeated wrong second factors")
        if not factor:
            raise CardRefused("factor-required", "A static QR code needs the second factor "
                                                 "'factor': the card PIN, or the last six "
                                                 "characters of the resident id")
        if self._factor_ok(conn, row, factor.strip().upper()):
            if row.factor_failures:
                repo.set_factor_state(conn, row.card_id, failures=0, locked_us=None)
            return
        failures = row.factor_failures + 1
        locked = now_us + FACTOR_LOCK_US if failures >= MAX_FACTOR_FAILURES else None
        repo.set_factor_state(conn, row.card_id, failures=0 if locked else failures,
                              locked_us=locked)
        left = "static use is now locked for 15 minutes" if locked else (
            f"{MAX_FACTOR_FAILURES - failures} tries left")
        raise CardRefused("factor-wrong", f"The second factor does not match ({left})")

    def _factor_ok(self, conn: Connection, row: Any, given: str) -> bool:
        if row.factor:
            return self.cards.factor_matches(row.golden_id, row.factor, given)
        number = people.resident_id(self.cards.service, conn, people.current(
            conn, row.golden_id), row.patient)
        return bool(number) and len(given) == 6 and hmac.compare_digest(
            (number or "")[-6:].encode(), given.encode())

    def log(self, conn: Connection, row: Any, payload: Payload, terminal: Terminal, step: str,
            *, outcome: str = "accepted", patient: str | None = None,
            appointment: str | None = None) -> None:
        """Append a use (or a refused attempt) of a card to its holder's usage log."""
        repo.log_use(conn, {
            "node": self.cards.node, "card_id": row.card_id, "golden_id": row.golden_id,
            "step": step, "code_kind": payload.kind, "outcome": outcome,
            "organization": terminal.organization, "actor": terminal.actor[:128],
            "actor_kind": terminal.actor_kind, "patient": patient, "appointment": appointment,
            "at_us": to_micros(now())})

    def record(self, conn: Connection, verified: Verified, terminal: Terminal, step: str,
               appointment: str | None = None) -> None:
        """Log an accepted use."""
        self.log(conn, verified.card, verified.payload, terminal, step,
                 patient=verified.local_patient, appointment=appointment)
