"""Time-based one-time passwords (RFC 6238, 30 s, 6 digits) with a replay guard."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

ISSUER = "甘肃健康 Gansu Health"
STEP_S = 30
WINDOW = 1  # accept the previous and the next step too (clock drift)


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans."""
    return str(pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER))


def code_at(secret: str, moment: datetime) -> str:
    """The code valid at ``moment`` (tests and enrolment checks)."""
    return str(pyotp.TOTP(secret).at(moment))


def accepted_step(secret: str, code: str, moment: datetime, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to if valid at ``moment`` and newer than ``last_step``."""
    code = code.strip()
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(moment.timestamp()) // STEP_S
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(str(totp.generate_otp(step)), code):
            return step if last_step is None or step > last_step else None
    return None
