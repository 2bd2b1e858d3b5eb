"""Client key material: registered JWK Sets (public keys only) and generated EC P-384 key pairs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

SIGNING_ALGORITHMS = ("ES384", "RS384")  # what SMART Backend Services requires servers to accept
MIN_RSA_BITS = 2048


class KeyMaterialError(ValueError):
    """A JWK Set cannot be registered for a client."""


def _check_key(key: Any) -> None:
    if key.is_private:
        raise KeyMaterialError("a client JWK Set must hold public keys only (found 'd')")
    if isinstance(key, ECKey):
        if key.curve_name != "P-384":
            raise KeyMaterialError(f"EC keys must be on P-384 for ES384, not {key.curve_name}")
    elif isinstance(key, RSAKey):
        if key.raw_value.key_size < MIN_RSA_BITS:
            raise KeyMaterialError(f"RSA keys need at least {MIN_RSA_BITS} bits")
    else:
        raise KeyMaterialError(f"unsupported key type {key.key_type}; use EC P-384 or RSA")
    if key.alg and key.alg not in SIGNING_ALGORITHMS:
        raise KeyMaterialError(f"key alg {key.alg} is not one of {', '.join(SIGNING_ALGORITHMS)}")


def validate_jwks(data: Any) -> dict[str, Any]:
    """Check a JWK Set (or a single JWK) of client public keys and return it as a JWK Set."""
    if isinstance(data, dict) and "keys" not in data and "kty" in data:
        data = {"keys": [data]}
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
        raise KeyMaterialError("expected a JWK Set: {\"keys\": [...]} with at least one key")
    try:
        key_set = KeySet.import_key_set(data)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise KeyMaterialError(f"not a valid JWK Set: {exc}") from exc
    for key in key_set.keys:
        _check_key(key)
        key.ensure_kid()
    return {"keys": [key.as_dict(private=False) for key in key_set.keys]}


def load_jwks(path: Path) -> dict[str, Any]:
    """Read a JWK Set, a single JWK or a PEM public key from ``path``."""
    raw = path.read_bytes()
    if raw.lstrip().startswith(b"-----BEGIN"):
        for key_class in (ECKey, RSAKey):
            try:
                key: Any = key_class.import_key(raw)
            except (JoseError, ValueError, TypeError):
                continue
            _check_key(key)
            return validate_jwks({"keys": [key.as_dict(private=False)]})
        raise KeyMaterialError(f"{path}: not an EC or RSA public key")
    try:
        return validate_jwks(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise KeyMaterialError(f"{path}: neither JSON nor PEM") from exc


def generate_key_pair() -> tuple[bytes, dict[str, Any]]:
    """A new EC P-384 private key (PEM) and the JWK Set of its public half (ES384, with kid)."""
    key = ECKey.generate_key("P-384", parameters={"alg": "ES384", "use": "sig"},
                             auto_kid=True)
    return key.as_pem(private=True), {"keys": [key.as_dict(private=False)]}


def write_private_key(path: Path, pem: bytes) -> None:
    """Write a private key readable by its owner only (0600), refusing to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    os.chmod(path, 0o600)
