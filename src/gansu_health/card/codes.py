"""QR code texts of the e-health card: SM4-GCM sealed, SM2 signed, compact enough for a QR.

Text: ``GSEHC1:`` + RFC 4648 base32 (upper case, no padding) of

    kind (1: ``D`` dynamic, ``S`` static) ‖ len(kid) (1) ‖ kid ‖ nonce (12)
    ‖ SM4-GCM(issued_s u32 ‖ expires_s u32 ‖ card id) with its 16-byte tag
    ‖ SM2 signature r ‖ s (64) over ``GSEHC1:`` ‖ everything before it

Only upper-case letters, digits and ``:`` are used, so the QR encodes it in alphanumeric mode
(5.5 bits a character): a dynamic code is ~204 characters, a version-8 symbol at level M. The
12-byte GCM nonce is random per code and doubles as the code's one-time nonce (the replay key);
it is bound in by the tag and the signature. The card id is encrypted, so a passer-by who scans
a code learns nothing; static codes carry ``expires_s = 0``.

Keys: ``kid`` names the data key of the platform's ``KeyProvider`` the code keys were derived
from — SM4 key = HMAC-SM3(data key, "gansu-health/card-qr/sm4/v1")[:16]; SM2 private key =
HMAC-SM3(data key, "gansu-health/card-qr/sm2/v1") mod (n − 1) + 1 — so the provider (a KMS in
production) keeps the only secret, a key rotation starts a new code key pair, and codes made
under a retired key keep verifying. SM2 with SM3 and the default user id (GM/T 0009) through
gmssl; its random ``k`` is drawn from ``secrets`` (gmssl's own uses ``random``).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import struct
import threading
from dataclasses import dataclass
from typing import Literal

from gmssl import sm2

from gansu_health.identity.crypto import DecryptionError, hmac_sm3, sm4_gcm_open, sm4_gcm_seal
from gansu_health.identity.keys import KeyProvider, UnknownKeyError

PREFIX = "GSEHC1:"
KIND_BYTES = {"dynamic": b"D", "static": b"S"}
NONCE_BYTES = 12
SIG_BYTES = 64
SM4_LABEL = b"gansu-health/card-qr/sm4/v1"
SM2_LABEL = b"gansu-health/card-qr/sm2/v1"
_CURVE = sm2.default_ecc_table
_N = int(_CURVE["n"], 16)
CodeKind = Literal["dynamic", "static"]


class CodeError(ValueError):
    """A QR text that is not ours (``malformed``) or does not authenticate (``forged``)."""

    def __init__(self, reason: Literal["malformed", "forged"], message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Payload:
    """What a code carries."""

    kind: CodeKind
    card_id: str
    issued_s: int
    expires_s: int  # 0: never (static codes)
    nonce: bytes
    kid: str

    @property
    def nonce_hex(self) -> str:
        """The nonce as the replay guard stores it."""
        return self.nonce.hex()


class Sm2Key:
    """One SM2 key pair (private scalar and uncompressed public point x ‖ y in hex)."""

    def __init__(self, private: int) -> None:
        self._crypt = sm2.CryptSM2(private_key=f"{private:064x}", public_key="")
        # set after construction: gmssl's constructor mangles keys starting with "04"
        self._crypt.public_key = self._crypt._kg(private, _CURVE["g"])
        self.public_hex: str = self._crypt.public_key

    def sign(self, data: bytes) -> bytes:
        """SM2-with-SM3 signature r ‖ s (64 bytes)."""
        while True:
            k = f"{secrets.randbelow(_N - 1) + 1:064x}"
            sig = self._crypt.sign_with_sm3(data, k)
            if sig:
                return bytes.fromhex(sig)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Check an r ‖ s signature (r and s must lie in [1, n − 1])."""
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        if len(signature) != SIG_BYTES or not (0 < r < _N and 0 < s < _N):
            return False
        return bool(self._crypt.verify_with_sm3(signature.hex(), data))


class CardKeys:
    """The code keys derived from the provider's data keys, cached per key id."""

    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider
        self._cache: dict[str, tuple[bytes, Sm2Key]] = {}
        self._lock = threading.Lock()

    def active(self) -> str:
        """The key id new codes are made under."""
        return self.provider.active("data")[0]

    def pair(self, kid: str) -> tuple[bytes, Sm2Key]:
        """Return (SM4 key, SM2 key) derived from data key ``kid``; UnknownKeyError if none."""
        with self._lock:
            found = self._cache.get(kid)
        if found is None:
            master = self.provider.get("data", kid)
            private = int.from_bytes(hmac_sm3(master, SM2_LABEL), "big") % (_N - 1) + 1
            found = (hmac_sm3(master, SM4_LABEL)[:16], Sm2Key(private))
            with self._lock:
                self._cache[kid] = found
        return found

    def public_keys(self) -> list[tuple[str, str]]:
        """(key id, uncompressed SM2 public key ``04‖x‖y`` in hex), the active key first."""
        return [(kid, "04" + self.pair(kid)[1].public_hex)
                for kid in self.provider.key_ids("data")]


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def _header(kind: CodeKind, kid: str) -> bytes:
    kid_bytes = kid.encode("ascii")
    return KIND_BYTES[kind] + bytes([len(kid_bytes)]) + kid_bytes


def encode(keys: CardKeys, kind: CodeKind, card_id: str, issued_s: int, expires_s: int
           ) -> tuple[str, Payload]:
    """Make a code text for ``card_id``; return it with what it carries."""
    kid = keys.active()
    sm4_key, signer = keys.pair(kid)
    header = _header(kind, kid)
    plain = struct.pack(">II", issued_s, expires_s) + card_id.encode("ascii")
    nonce, sealed = sm4_gcm_seal(sm4_key, plain, PREFIX.encode() + header,
                                 secrets.token_bytes(NONCE_BYTES))
    body = header + nonce + sealed
    signature = signer.sign(PREFIX.encode() + body)
    return PREFIX + _b32(body + signature), Payload(kind, card_id, issued_s, expires_s, nonce,
                                                    kid)


def _split(text: str) -> tuple[CodeKind, str, bytes, bytes, bytes, bytes]:
    """Parse a text into (kind, kid, header, nonce, sealed, signature)."""
    text = text.strip()
    if not text.upper().startswith(PREFIX):
        raise CodeError("malformed", f"The text is not an e-health-card QR code (no {PREFIX} "
                                     "prefix)")
    data = text[len(PREFIX):].upper()
    try:
        raw = base64.b32decode(data + "=" * (-len(data) % 8))
    except (binascii.Error, ValueError) as exc:
        raise CodeError("malformed", "The QR code is not valid base32: damaged or altered"
                        ) from exc
    kinds = {v: k for k, v in KIND_BYTES.items()}
    if len(raw) < 2 or raw[:1] not in kinds:
        raise CodeError("malformed", "The QR code has an unknown code kind")
    end = 2 + raw[1]
    if len(raw) < end + NONCE_BYTES + 16 + 8 + SIG_BYTES:
        raise CodeError("malformed", "The QR code is truncated")
    kind: CodeKind = kinds[raw[:1]]  # type: ignore[assignment]
    try:
        kid = raw[2:end].decode("ascii")
    except UnicodeDecodeError as exc:
        raise CodeError("malformed", "The QR code names no valid key") from exc
    sig_at = len(raw) - SIG_BYTES
    return (kind, kid, raw[:end], raw[end:end + NONCE_BYTES], raw[end + NONCE_BYTES:sig_at],
            raw[sig_at:])


def decode(keys: CardKeys, text: str) -> Payload:
    """Verify the signature, then open the payload; raise CodeError when it is not genuine."""
    kind, kid, header, nonce, sealed, signature = _split(text)
    try:
        sm4_key, signer = keys.pair(kid)
    except (UnknownKeyError, ValueError) as exc:
        raise CodeError("forged", f"The QR code names key '{kid}', which this platform never "
                                  "issued codes under: forged") from exc
    if not signer.verify(signature, PREFIX.encode() + header + nonce + sealed):
        raise CodeError("forged", "The QR code's SM2 signature does not verify: the code is "
                                  "forged or was altered")
    try:
        plain = sm4_gcm_open(sm4_key, nonce, sealed, PREFIX.encode() + header)
    except DecryptionError as exc:  # a valid signature over a bad ciphertext: our own bug
        raise CodeError("forged", "The QR code's sealed payload does not open") from exc
    issued_s, expires_s = struct.unpack(">II", plain[:8])
    try:
        card_id = plain[8:].decode("ascii")
    except UnicodeDecodeError as exc:
        raise CodeError("forged", "The QR code's payload holds no card id") from exc
    return Payload(kind, card_id, issued_s, expires_s, nonce, kid)
