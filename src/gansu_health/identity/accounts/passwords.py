"""Passwords: argon2id hashes (argon2-cffi), the strength rule, generated passwords."""

from __future__ import annotations

import secrets
import string
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gansu_health.core.errors import UnprocessableEntity

MIN_LENGTH = 8
MAX_LENGTH = 128
CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits)
_hasher = PasswordHasher()


def check_strength(password: str, *, expression: str = "password") -> str:
    """Raise UnprocessableEntity unless the password has 8–128 characters of 3 kinds."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise UnprocessableEntity(f"A password needs {MIN_LENGTH} to {MAX_LENGTH} characters",
                                  expression=expression)
    kinds = sum(any(c in chars for c in password) for chars in CLASSES)
    kinds += any(not c.isalnum() for c in password)
    if kinds < 3:
        raise UnprocessableEntity("A password needs three of: lower-case letters, upper-case "
                                  "letters, digits, other characters", expression=expression)
    return password


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``."""
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(stored: str | None, password: str) -> bool:
    """Check ``password`` against ``stored``; without a hash, spend the same time and fail."""
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored)


def generate_password(length: int = 16) -> str:
    """A random password that satisfies ``check_strength``."""
    alphabet = string.ascii_letters + string.digits + "-_.!#%"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        try:
            return check_strength(candidate)
        except UnprocessableEntity:
            continue
