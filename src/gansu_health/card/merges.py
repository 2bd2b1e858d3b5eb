"""Cards follow the master patient index: a merge leaves the person one card, an undo restores.

When a data steward merges two golden records that both hold an active card, the card of the
record merged away is revoked with the reason ``merged`` and points at the survivor's card (its
codes are then refused as revoked, naming the replacement). A card alone on either side simply
serves the survivor through the redirect. Undoing the merge gives the restored record its card
back. The outbox delivers these events, so for a moment after a merge both cards still verify.
"""

from __future__ import annotations

from sqlalchemy import Connection

from gansu_health.card import repository as repo
from gansu_health.core.clock import now, to_micros
from gansu_health.core.events import Event

MERGED = "merged"


def on_event(conn: Connection, event: Event) -> None:
    """Outbox subscriber for ``mpi.golden.merged`` and ``mpi.golden.unmerged``."""
    gone = str(event.payload.get("fromGoldenId") or "")
    kept = str(event.payload.get("toGoldenId") or "")
    if not gone or not kept:
        return
    if event.topic == "mpi.golden.merged":
        merged(conn, gone, kept)
    elif event.topic == "mpi.golden.unmerged":
        unmerged(conn, gone)


def merged(conn: Connection, gone: str, kept: str) -> None:
    """Revoke the card of the record merged away when the survivor holds one too."""
    survivor = repo.active_of(conn, [kept], lock=True)
    card = repo.active_of(conn, [gone], lock=True)
    if survivor is None or card is None:
        return
    repo.revoke(conn, card.card_id, at_us=to_micros(now()), reason=MERGED)
    repo.set_replaced_by(conn, card.card_id, survivor.card_id)


def unmerged(conn: Connection, restored: str) -> None:
    """Give a record restored by an undone merge the card that merge revoked."""
    if repo.active_of(conn, [restored], lock=True) is not None:
        return
    latest = next(iter(repo.cards_of(conn, [restored])), None)
    if latest is not None and latest.status == "revoked" and latest.revoke_reason == MERGED:
        repo.reactivate(conn, latest.card_id)
