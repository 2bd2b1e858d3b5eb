"""The daily reconciliation (对账): our settled charges and refunds against the gateway's
statement for one local day. Lines are matched by kind and order number; the report lists the
matched ones, those missing at the gateway (we think we were paid), those missing on our side
(the gateway settled something we did not record) and amount mismatches."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from gansu_health.mpi import parameters as p
from gansu_health.payment import repository as repo
from gansu_health.scheduling import policy as pol

if TYPE_CHECKING:
    from gansu_health.payment.service import Payments


@dataclass
class Report:
    """One day's reconciliation."""

    day: str
    gateway: str
    matched: list[tuple[str, str, int]] = field(default_factory=list)
    missing_at_gateway: list[tuple[str, str, int]] = field(default_factory=list)
    missing_ours: list[tuple[str, str, int]] = field(default_factory=list)
    mismatched: list[tuple[str, str, int, int]] = field(default_factory=list)  # ours, theirs

    @property
    def balanced(self) -> bool:
        """Whether both sides agree."""
        return not (self.missing_at_gateway or self.missing_ours or self.mismatched)

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON (the CLI prints it)."""
        def lines(rows: list[tuple[str, str, int]]) -> list[dict[str, Any]]:
            return [{"kind": k, "order": o, "amount_fen": a} for k, o, a in rows]
        return {"day": self.day, "gateway": self.gateway, "balanced": self.balanced,
                "matched": lines(self.matched),
                "missing_at_gateway": lines(self.missing_at_gateway),
                "missing_ours": lines(self.missing_ours),
                "mismatched": [{"kind": k, "order": o, "ours_fen": a, "gateway_fen": b}
                               for k, o, a, b in self.mismatched]}

    def to_parameters(self) -> dict[str, Any]:
        """The report as FHIR Parameters."""
        def line(name: str, kind: str, order: str, *amounts: int) -> dict[str, Any]:
            parts = [p.part("kind", kind), p.part("order", order)]
            parts += [p.part(n, a) for n, a in zip(("amount", "gatewayAmount"), amounts,
                                                     strict=False)]
            return p.part(name, parts)
        out = [p.part("date", self.day), p.part("gateway", self.gateway),
               p.part("balanced", self.balanced), p.part("matchedCount", len(self.matched))]
        out += [line("matched", *row) for row in self.matched]
        out += [line("missingAtGateway", *row) for row in self.missing_at_gateway]
        out += [line("missingOurs", *row) for row in self.missing_ours]
        out += [line("mismatched", *row) for row in self.mismatched]
        return p.parameters(*out)


def report(pay: Payments, conn: Connection, day: date) -> Report:
    """Reconcile one local day."""
    start = pol.local_us(day, "00:00", pay.zone)
    end = pol.local_us(day + timedelta(days=1), "00:00", pay.zone)
    ours = {(k, o): a for k, o, a in repo.settled(conn, start, end)}
    theirs = {(s.kind, s.order_id): s.amount_fen
              for s in pay.gateway.statement(conn, start, end)}
    out = Report(day.isoformat(), pay.gateway.name)
    for key in sorted(ours.keys() | theirs.keys()):
        mine, their = ours.get(key), theirs.get(key)
        if mine is None:
            out.missing_ours.append((*key, their or 0))
        elif their is None:
            out.missing_at_gateway.append((*key, mine))
        elif mine != their:
            out.mismatched.append((*key, mine, their))
        else:
            out.matched.append((*key, mine))
    return out
