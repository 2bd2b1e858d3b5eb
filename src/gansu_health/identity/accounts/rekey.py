"""Account phones (sealed + blind index) and TOTP secrets as a ``keys reencrypt`` target."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine

from gansu_health.identity.accounts.models import account
from gansu_health.identity.accounts.service import PHONE_CONTEXT, TOTP_CONTEXT
from gansu_health.identity.keys import EncryptedColumn, FieldCipher, reencrypt_table
from gansu_health.identity.reencrypt import ReencryptStats
from gansu_health.identity.rekey import Progress, RekeyTarget, count_by_key, counter

COLUMNS = (EncryptedColumn("phone_enc", PHONE_CONTEXT, "phone_index", "phone"),
           EncryptedColumn("totp_enc", TOTP_CONTEXT))


def rekey_target(cipher: FieldCipher) -> RekeyTarget:
    """Re-seal account phones and TOTP secrets and recompute the phone blind index."""

    def run(engine: Engine, start: Any, full: bool, batch: int, progress: Progress | None
            ) -> ReencryptStats:
        # idempotent and cheap per row: a resumed pass simply walks the table again
        return reencrypt_table(engine, cipher, account, "id", COLUMNS, batch=batch,
                               progress=progress)

    def status(conn: Connection) -> list[tuple[str, str, int]]:
        kids = cipher.keys.key_ids("data")
        return [*count_by_key(conn, "account.phone_enc (data)", account.c.phone_enc, [], kids,
                              lambda kid: f"g1:{kid}:%"),
                *count_by_key(conn, "account.totp_enc (data)", account.c.totp_enc, [], kids,
                              lambda kid: f"g1:{kid}:%")]

    return RekeyTarget("account phones and TOTP secrets", run, status, counter(account.c.id))
