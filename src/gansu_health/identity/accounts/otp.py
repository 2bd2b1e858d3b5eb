"""SMS one-time codes: 6 digits, 5 minutes, single use, 5 tries, 1 per minute and 10 a day.

Only an HMAC-SM3 of (phone blind index, code) is stored. A new code supersedes the phone's
earlier ones. The per-phone limits live in the database so that they hold across processes.
"""

from __future__ import annotations

import hmac
import math
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, text, update

from gansu_health.core.clock import now, to_micros
from gansu_health.core.database import is_sqlite
from gansu_health.core.errors import BadRequest, PlatformError, TooManyRequests, Unauthorized
from gansu_health.identity.accounts.models import otp_challenge
from gansu_health.identity.keys import FieldCipher

CODE_TTL_S = 300
MAX_ATTEMPTS = 5
RESEND_S = 60
DAILY_LIMIT = 10
DAY_S = 24 * 3600
_US = 1_000_000
MOBILE_RE = re.compile(r"1[3-9]\d{9}")


def normalise_phone(phone: str, *, expression: str = "phone") -> str:
    """The 11-digit mainland mobile number in ``phone``; BadRequest when it is not one."""
    digits = FieldCipher.normalise(phone or "", "phone")
    if not MOBILE_RE.fullmatch(digits):
        raise BadRequest("Expected an 11-digit mainland China mobile number",
                         expression=expression)
    return digits


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """A code to deliver by SMS (the only time it exists in the clear)."""

    phone: str
    code: str
    expires_in: int


def _code_hash(cipher: FieldCipher, phone_index: str, code: str) -> list[str]:
    return cipher.blind_indexes(f"otp:{phone_index}:{code}", "text")


def _wait_s(until_us: int, now_us: int) -> int:
    return max(1, math.ceil((until_us - now_us) / _US))


def _serialise(conn: Connection, phone_index: str) -> None:
    if not is_sqlite(conn):  # SQLite writers are serial already
        key = int(phone_index[:15], 16)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def issue_code(conn: Connection, cipher: FieldCipher, phone: str, node: str) -> IssuedCode:
    """Create a code for ``phone``; TooManyRequests when its minute or day quota is used up."""
    digits = normalise_phone(phone)
    indexes = cipher.blind_indexes(digits, "phone")
    _serialise(conn, indexes[0])
    t = to_micros(now())
    recent = conn.execute(select(func.count(), func.min(otp_challenge.c.created_us),
                                 func.max(otp_challenge.c.created_us)).where(
        otp_challenge.c.phone_index.in_(indexes),
        otp_challenge.c.created_us > t - DAY_S * _US)).one()
    count, oldest, newest = int(recent[0]), recent[1], recent[2]
    if newest is not None and t - newest < RESEND_S * _US:
        raise TooManyRequests("A code was sent to this phone less than a minute ago",
                              retry_after=_wait_s(newest + RESEND_S * _US, t),
                              expression="phone")
    if count >= DAILY_LIMIT:
        raise TooManyRequests(f"At most {DAILY_LIMIT} codes a day are sent to one phone",
                              retry_after=_wait_s(oldest + DAY_S * _US, t), expression="phone")
    conn.execute(update(otp_challenge).where(otp_challenge.c.phone_index.in_(indexes),
                                             otp_challenge.c.consumed.is_(False))
                 .values(consumed=True))
    conn.execute(delete(otp_challenge).where(otp_challenge.c.expires_us < t - DAY_S * _US))
    code = f"{secrets.randbelow(10**6):06d}"
    conn.execute(insert(otp_challenge).values(
        node=node, phone_index=indexes[0], code_hash=_code_hash(cipher, indexes[0], code)[0],
        created_us=t, expires_us=t + CODE_TTL_S * _US, attempts=0, consumed=False))
    return IssuedCode(digits, code, CODE_TTL_S)


def withdraw_code(conn: Connection, cipher: FieldCipher, phone: str) -> None:
    """Forget the newest code of ``phone`` (its SMS could not be sent), freeing the quota."""
    indexes = cipher.blind_indexes(normalise_phone(phone), "phone")
    newest = conn.execute(select(func.max(otp_challenge.c.id)).where(
        otp_challenge.c.phone_index.in_(indexes))).scalar()
    if newest is not None:
        conn.execute(delete(otp_challenge).where(otp_challenge.c.id == newest))


def check_code(conn: Connection, cipher: FieldCipher, phone: str, code: str
               ) -> PlatformError | None:
    """Consume ``code`` if it is the phone's open code; otherwise return the error to report.

    A wrong code counts against the code's attempts; the caller must commit either way.
    """
    digits = normalise_phone(phone)
    code = (code or "").strip()
    if len(code) != 6 or not code.isdigit():
        return BadRequest("The code has 6 digits", expression="code")
    indexes = cipher.blind_indexes(digits, "phone")
    _serialise(conn, indexes[0])
    t = to_micros(now())
    row = conn.execute(select(otp_challenge).where(
        otp_challenge.c.phone_index.in_(indexes), otp_challenge.c.consumed.is_(False))
        .order_by(otp_challenge.c.created_us.desc()).limit(1)).mappings().first()
    if row is None or row["expires_us"] <= t:
        return Unauthorized("The code is wrong, used or expired; request a new one",
                            expression="code")
    if row["attempts"] >= MAX_ATTEMPTS:
        return TooManyRequests("Too many wrong codes; request a new code",
                               retry_after=_wait_s(row["created_us"] + RESEND_S * _US, t),
                               expression="code")
    expected = row["code_hash"]
    if any(hmac.compare_digest(expected, h) for h in _code_hash(cipher, row["phone_index"], code)):
        conn.execute(update(otp_challenge).where(otp_challenge.c.id == row["id"])
                     .values(consumed=True))
        return None
    conn.execute(update(otp_challenge).where(otp_challenge.c.id == row["id"])
                 .values(attempts=otp_challenge.c.attempts + 1))
    left = MAX_ATTEMPTS - row["attempts"] - 1
    return Unauthorized(f"The code is wrong ({left} tries left for this code)",
                        expression="code")
