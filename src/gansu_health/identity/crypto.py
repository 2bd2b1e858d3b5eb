"""SM3, HMAC-SM3 and SM4-GCM (GB/T 32905, GB/T 32907) through ``cryptography``/OpenSSL.

Encrypted values are stored as a versioned text envelope ``g1:<key id>:<base64url(nonce ‖
ciphertext ‖ tag)>``: the key id tells a reader (and the re-encryption job) which key sealed the
value, and the envelope header plus an optional caller context are bound in as associated data,
so a value cannot be moved to another key id or another column without failing authentication.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ENVELOPE_VERSION = "g1"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 16
_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class DecryptionError(ValueError):
    """A value could not be authenticated or parsed (tampered, wrong key or wrong context)."""


def sm3(data: bytes) -> bytes:
    """Return the 32-byte SM3 digest of ``data``."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """Return the 32-byte HMAC-SM3 of ``data`` under ``key``."""
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def sm4_encrypt_block(key: bytes, block: bytes) -> bytes:
    """Encrypt one 16-byte block with raw SM4 (ECB); only for known-answer tests."""
    if len(block) != 16:
        raise ValueError("SM4 blocks are 16 bytes")
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def sm4_gcm_seal(key: bytes, plaintext: bytes, aad: bytes = b"",
                 nonce: bytes | None = None) -> tuple[bytes, bytes]:
    """Encrypt with SM4-GCM; return ``(nonce, ciphertext ‖ tag)``.

    A fresh random 96-bit nonce is drawn unless one is given (known-answer tests only: a nonce
    must never repeat under one key; rotate data keys well before 2**32 encryptions).
    """
    nonce = nonce or os.urandom(NONCE_BYTES)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    if aad:
        enc.authenticate_additional_data(aad)
    body = enc.update(plaintext) + enc.finalize()
    return nonce, body + enc.tag


def sm4_gcm_open(key: bytes, nonce: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    """Decrypt and authenticate SM4-GCM ``ciphertext ‖ tag``; raise DecryptionError if forged."""
    if len(sealed) < TAG_BYTES:
        raise DecryptionError("ciphertext shorter than the GCM tag")
    body, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    if aad:
        dec.authenticate_additional_data(aad)
    try:
        return dec.update(body) + dec.finalize()
    except InvalidTag as exc:
        raise DecryptionError("SM4-GCM authentication failed") from exc


def check_key_id(kid: str) -> str:
    """Return ``kid`` if it is a valid key id (letters, digits, ``_``, ``-``; 1–32 chars)."""
    if not _KID.match(kid):
        raise ValueError(f"invalid key id {kid!r}")
    return kid


@dataclass(frozen=True, slots=True)
class Envelope:
    """A sealed value: envelope version, key id, nonce and ciphertext with its tag."""

    kid: str
    nonce: bytes
    sealed: bytes
    version: str = ENVELOPE_VERSION

    @property
    def header(self) -> str:
        """The ``version:kid:`` prefix, also bound in as associated data."""
        return f"{self.version}:{self.kid}:"

    def encode(self) -> str:
        """Serialise as ``g1:<kid>:<base64url(nonce ‖ sealed)>`` without padding."""
        blob = base64.urlsafe_b64encode(self.nonce + self.sealed).rstrip(b"=").decode("ascii")
        return self.header + blob

    @classmethod
    def decode(cls, token: str) -> Envelope:
        """Parse an encoded envelope; raise DecryptionError when malformed."""
        parts = token.split(":")
        if len(parts) != 3 or parts[0] != ENVELOPE_VERSION or not _KID.match(parts[1]):
            raise DecryptionError("not a g1 envelope")
        try:
            raw = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        except ValueError as exc:
            raise DecryptionError("bad base64 in envelope") from exc
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError("envelope too short")
        return cls(parts[1], raw[:NONCE_BYTES], raw[NONCE_BYTES:], parts[0])


def envelope_key_id(token: str) -> str:
    """Return the key id of an encoded envelope without decrypting it."""
    return Envelope.decode(token).kid


def _aad(header: str, context: str) -> bytes:
    return f"{header}{context}".encode()


def seal(kid: str, key: bytes, plaintext: bytes, context: str = "") -> str:
    """Encrypt ``plaintext`` under ``key`` and return the encoded envelope."""
    header = f"{ENVELOPE_VERSION}:{check_key_id(kid)}:"
    nonce, sealed = sm4_gcm_seal(key, plaintext, _aad(header, context))
    return Envelope(kid, nonce, sealed).encode()


def unseal(envelope: Envelope, key: bytes, context: str = "") -> bytes:
    """Decrypt a parsed envelope with ``key`` (the caller looked it up by ``envelope.kid``)."""
    return sm4_gcm_open(key, envelope.nonce, envelope.sealed, _aad(envelope.header, context))
