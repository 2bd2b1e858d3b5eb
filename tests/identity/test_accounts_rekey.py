"""Account phones and TOTP secrets take part in key rotation (`keys rotate` + `keys reencrypt`)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from gansu_health.core.database import build_engine, read_transaction, write_transaction
from gansu_health.core.settings import Settings
from gansu_health.identity.accounts import repository
from gansu_health.identity.accounts.models import account
from gansu_health.identity.accounts.rekey import rekey_target
from gansu_health.identity.accounts.service import PHONE_CONTEXT
from gansu_health.identity.keys import FieldCipher, FileKeyProvider


def test_rotation_reseals_phones_and_keeps_them_findable(settings: Settings,
                                                         tmp_path: Path) -> None:
    keys = FileKeyProvider(tmp_path / "keys.json")
    cipher = FieldCipher(keys)
    engine = build_engine(settings.database_url, settings)
    phone = "13912345678"
    with write_transaction(engine) as conn:
        acct = repository.insert_account(
            conn, node=settings.node_id, kind="citizen",
            phone_index=cipher.blind_index(phone, "phone"),
            phone_enc=cipher.encrypt(phone, PHONE_CONTEXT))
    old_data, old_blind = keys.active("data")[0], cipher.blind_index(phone, "phone")
    keys.rotate("data")
    keys.rotate("index")
    target = rekey_target(cipher)
    with read_transaction(engine) as conn:  # mid-rotation: found through the old index key
        assert repository.find_by_phone(conn, "citizen", cipher.blind_indexes(phone, "phone"))
        before = {(what, kid): n for what, kid, n in target.status(conn)}
    assert before[("account.phone_enc (data)", old_data)] >= 1
    stats = target.run(engine, None, False, 100, None)
    assert stats.rewritten >= 1 and not stats.failed
    with read_transaction(engine) as conn:
        row = conn.execute(select(account).where(account.c.id == acct.id)).mappings().one()
        after = {(what, kid): n for what, kid, n in target.status(conn)}
    assert row["phone_enc"].startswith(f"g1:{keys.active('data')[0]}:")
    assert row["phone_index"] == cipher.blind_index(phone, "phone") != old_blind
    assert cipher.decrypt(row["phone_enc"], PHONE_CONTEXT) == phone
    assert after.get(("account.phone_enc (data)", old_data), 0) == 0
    engine.dispose()
