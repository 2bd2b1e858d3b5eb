"""Key management (密钥管理) and field encryption: KeyProvider, FieldCipher, re-encryption.

``KeyProvider`` is the seam to the key-management system: in production it is backed by a
KMS/HSM (密码机) certified under GB/T 39786; this module ships two development sinks behind the
same interface — ``MemoryKeyProvider`` (keys live only in the process; tests) and
``FileKeyProvider`` (a JSON key ring, ``var/keys.json`` by default or ``GANSU_HEALTH_KEY_FILE``,
created with random keys and mode 0600). Each ring keeps two purposes apart: ``data`` keys
(SM4-GCM) and ``index`` keys (HMAC-SM3 blind indexes). One key per purpose is active; retired keys
stay readable, so rotation needs no downtime: ``rotate()`` adds a new active key, running
processes pick it up (``FileKeyProvider`` re-reads the file when it changes), and
``reencrypt_table`` re-seals old values in short batches while both keys remain readable.
"""

from __future__ import annotations

import base64
import fcntl
import importlib
import json
import os
import re
import secrets
import threading
import time
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, Table

from gansu_health.core.settings import Settings
from gansu_health.identity.crypto import (
    KEY_BYTES,
    DecryptionError,
    Envelope,
    check_key_id,
    hmac_sm3,
    seal,
    unseal,
)
from gansu_health.identity.reencrypt import ReencryptStats, row_rewriter, walk_table

Purpose = Literal["data", "index"]
PURPOSES: tuple[Purpose, ...] = ("data", "index")
_PREFIX: dict[Purpose, str] = {"data": "d", "index": "i"}
KEY_FILE_FORMAT = "gansu-health-keys/1"
DEFAULT_KEY_FILE = Path("var") / "keys.json"


class UnknownKeyError(LookupError):
    """A key id is unknown to the provider."""


class KeyFileError(RuntimeError):
    """The key file is malformed or readable by others."""


@dataclass(slots=True)
class KeyEntry:
    """One key of a ring: material, creation time and retirement time (None while active)."""

    key: bytes
    created: str
    retired: str | None = None


@dataclass(slots=True)
class KeyRing:
    """The keys of one purpose and the id of the active one."""

    active: str
    keys: dict[str, KeyEntry] = field(default_factory=dict)


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _new_ring(purpose: Purpose) -> KeyRing:
    kid = f"{_PREFIX[purpose]}1"
    return KeyRing(kid, {kid: KeyEntry(secrets.token_bytes(KEY_BYTES), _stamp())})


class KeyProvider(ABC):
    """Where data-encryption and blind-index keys come from (a KMS in production)."""

    @abstractmethod
    def active(self, purpose: Purpose) -> tuple[str, bytes]:
        """Return ``(key id, key)`` of the active key for ``purpose``."""

    @abstractmethod
    def get(self, purpose: Purpose, kid: str) -> bytes:
        """Return the key ``kid`` (active or retired); raise ``UnknownKeyError`` when unknown."""

    @abstractmethod
    def key_ids(self, purpose: Purpose) -> list[str]:
        """Return every key id of ``purpose``, the active one first."""

    @abstractmethod
    def rotate(self, purpose: Purpose = "data") -> str:
        """Add a fresh active key for ``purpose``; the previous one is retired but readable."""


class MemoryKeyProvider(KeyProvider):
    """Development/test sink: random keys held in process memory only."""

    def __init__(self, rings: Mapping[Purpose, KeyRing] | None = None) -> None:
        self._rings: dict[Purpose, KeyRing] = dict(rings) if rings else {
            p: _new_ring(p) for p in PURPOSES}
        self._lock = threading.Lock()

    def active(self, purpose: Purpose) -> tuple[str, bytes]:
        """Return ``(key id, key)`` of the active key for ``purpose``."""
        ring = self._rings[purpose]
        return ring.active, ring.keys[ring.active].key

    def get(self, purpose: Purpose, kid: str) -> bytes:
        """Return the key ``kid`` (active or retired); raise ``UnknownKeyError`` when unknown."""
        entry = self._rings[purpose].keys.get(kid) or self._reload_for(purpose, kid)
        if entry is None:
            raise UnknownKeyError(f"unknown {purpose} key {kid!r}")
        return entry.key

    def key_ids(self, purpose: Purpose) -> list[str]:
        """Return every key id of ``purpose``, the active one first."""
        ring = self._rings[purpose]
        return [ring.active, *sorted((k for k in ring.keys if k != ring.active), reverse=True)]

    def rotate(self, purpose: Purpose = "data") -> str:
        """Add a fresh active key for ``purpose``; the previous one is retired but readable."""
        with self._lock:
            self._before_rotate()
            ring = self._rings[purpose]
            numbers = [int(k[1:]) for k in ring.keys if re.fullmatch(r"[a-z]\d+", k)]
            kid = check_key_id(f"{_PREFIX[purpose]}{max(numbers, default=0) + 1}")
            now = _stamp()
            ring.keys[ring.active].retired = now
            ring.keys[kid] = KeyEntry(secrets.token_bytes(KEY_BYTES), now)
            ring.active = kid
            self._persist()
        return kid

    def _reload_for(self, purpose: Purpose, kid: str) -> KeyEntry | None:
        return None

    def _before_rotate(self) -> None:
        return None

    def _persist(self) -> None:
        return None


def _ring_to_json(ring: KeyRing) -> dict[str, Any]:
    return {"active": ring.active, "keys": {
        kid: {"key": base64.b64encode(e.key).decode(), "created": e.created,
              "retired": e.retired} for kid, e in ring.keys.items()}}


def _ring_from_json(raw: Mapping[str, Any]) -> KeyRing:
    keys = {check_key_id(kid): KeyEntry(base64.b64decode(e["key"]), e["created"], e.get("retired"))
            for kid, e in raw["keys"].items()}
    if raw["active"] not in keys or any(len(e.key) != KEY_BYTES for e in keys.values()):
        raise KeyFileError("key ring has no valid active key or a key of the wrong size")
    return KeyRing(raw["active"], keys)


def default_key_file() -> Path:
    """Return the key file path: ``GANSU_HEALTH_KEY_FILE`` or ``var/keys.json``."""
    return Path(os.environ.get("GANSU_HEALTH_KEY_FILE", DEFAULT_KEY_FILE))


class FileKeyProvider(MemoryKeyProvider):
    """Development sink: a JSON key ring on disk (mode 0600), created with random keys."""

    def __init__(self, path: Path | None = None, *, create: bool = True,
                 refresh_seconds: float = 5.0) -> None:
        self.path = path or default_key_file()
        self.refresh_seconds = refresh_seconds
        if not self.path.exists() and not create:
            raise KeyFileError(f"key file {self.path} does not exist")
        super().__init__()
        try:
            if not self.path.exists():
                self._write(exclusive=True)
        except FileExistsError:  # another process created it first
            pass
        self._rings = self._read()
        self._checked = time.monotonic()

    def active(self, purpose: Purpose) -> tuple[str, bytes]:
        """Return the active key, re-reading the file if another process rotated it."""
        if time.monotonic() - self._checked > self.refresh_seconds:
            self.refresh()
        return super().active(purpose)

    def rotate(self, purpose: Purpose = "data") -> str:
        """Add a fresh active key, holding an exclusive lock on ``<file>.lock`` meanwhile."""
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # two rotations must not lose each other's key
            return super().rotate(purpose)
        finally:
            os.close(fd)

    def refresh(self) -> None:
        """Re-read the key file (keys rotated by another process become visible)."""
        with self._lock:
            self._rings = self._read()
            self._checked = time.monotonic()

    def _reload_for(self, purpose: Purpose, kid: str) -> KeyEntry | None:
        self.refresh()
        return self._rings[purpose].keys.get(kid)

    def _before_rotate(self) -> None:
        self._rings = self._read()

    def _persist(self) -> None:
        self._write(exclusive=False)

    def _read(self) -> dict[Purpose, KeyRing]:
        if os.name == "posix" and self.path.stat().st_mode & 0o077:
            raise KeyFileError(f"key file {self.path} is accessible by group/others; "
                               "chmod 600 it")
        try:
            raw = json.loads(self.path.read_text("utf-8"))
            if raw.get("format") != KEY_FILE_FORMAT:
                raise KeyFileError(f"key file {self.path} has an unknown format")
            return {p: _ring_from_json(raw[p]) for p in PURPOSES}
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyFileError(f"key file {self.path} is malformed: {exc}") from exc

    def _write(self, *, exclusive: bool) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        doc: dict[str, Any] = {"format": KEY_FILE_FORMAT}
        doc.update({p: _ring_to_json(self._rings[p]) for p in PURPOSES})
        target = self.path if exclusive else self.path.with_name(
            f".{self.path.name}.{os.getpid()}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
        fd = os.open(target, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        if not exclusive:
            os.replace(target, self.path)


_SHARED: dict[tuple[str, str], KeyProvider] = {}
_SHARED_LOCK = threading.Lock()


def key_provider(settings: Settings) -> KeyProvider:
    """Return the process's shared provider: the key file, or ``module:Class(settings)`` (KMS)."""
    spec = (settings.key_provider, str(Path(settings.key_file).resolve()))
    with _SHARED_LOCK:
        provider = _SHARED.get(spec)
        if provider is None:
            if settings.key_provider == "file":
                provider = FileKeyProvider(Path(settings.key_file))
            else:
                module, _, name = settings.key_provider.partition(":")
                provider = getattr(importlib.import_module(module), name)(settings)
            _SHARED[spec] = provider
    return provider


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value)


def _phone(value: str) -> str:
    digits = re.sub(r"\D", "", _nfkc(value))
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


NORMALISERS: dict[str, Callable[[str], str]] = {
    "resident_id": lambda v: re.sub(r"\s+", "", _nfkc(v)).upper(),
    "phone": _phone,
    "email": lambda v: _nfkc(v).strip().lower(),
    "text": lambda v: " ".join(_nfkc(v).split()),
}


class FieldCipher:
    """Encrypts fields with SM4-GCM and computes HMAC-SM3 blind indexes for exact lookups."""

    def __init__(self, keys: KeyProvider) -> None:
        self.keys = keys

    def encrypt(self, value: str, context: str = "") -> str:
        """Seal ``value`` under the active data key; ``context`` (e.g. "patient.phone") is AAD."""
        kid, key = self.keys.active("data")
        return seal(kid, key, value.encode("utf-8"), context)

    def decrypt(self, token: str, context: str = "") -> str:
        """Open a sealed value with whichever data key sealed it."""
        env = Envelope.decode(token)
        try:
            key = self.keys.get("data", env.kid)
        except UnknownKeyError as exc:
            raise DecryptionError(str(exc)) from exc
        return unseal(env, key, context).decode("utf-8")

    def is_current(self, token: str) -> bool:
        """Tell whether ``token`` is sealed under the active data key."""
        return Envelope.decode(token).kid == self.keys.active("data")[0]

    def reencrypt(self, token: str, context: str = "") -> str:
        """Return ``token`` re-sealed under the active key (unchanged when already current)."""
        return token if self.is_current(token) else self.encrypt(self.decrypt(token, context),
                                                                  context)

    def blind_index(self, value: str, kind: str = "text") -> str:
        """Return the hex HMAC-SM3 blind index of the normalised value under the active key."""
        return _index(self.keys.active("index")[1], value, kind)

    def blind_indexes(self, value: str, kind: str = "text") -> list[str]:
        """Return the blind index under every index key (active first), for lookups mid-rotation."""
        return [_index(self.keys.get("index", kid), value, kind)
                for kid in self.keys.key_ids("index")]

    def tagged_index(self, value: str, kind: str = "text") -> str:
        """Return ``<index key id>:<blind index>`` under the active index key."""
        kid, key = self.keys.active("index")
        return f"{kid}:{_index(key, value, kind)}"

    def tagged_indexes(self, value: str, kind: str = "text") -> list[str]:
        """Return ``<index key id>:<blind index>`` under every index key, the active one first."""
        self.keys.active("index")  # a provider may notice a rotation by another process here
        return [f"{kid}:{_index(self.keys.get('index', kid), value, kind)}"
                for kid in self.keys.key_ids("index")]

    @staticmethod
    def normalise(value: str, kind: str) -> str:
        """Normalise ``value`` for the blind index of ``kind`` (resident_id, phone, email, text)."""
        return NORMALISERS[kind](value)


@lru_cache(maxsize=65536)
def _index(key: bytes, value: str, kind: str) -> str:
    """HMAC-SM3 of the normalised value; cached, as lookups repeat what writes computed."""
    return hmac_sm3(key, f"{kind}\x00{NORMALISERS[kind](value)}".encode()).hex()


@dataclass(frozen=True, slots=True)
class EncryptedColumn:
    """A sealed column, its AAD context and optionally the blind-index column derived from it."""

    name: str
    context: str = ""
    index_column: str | None = None
    kind: str = "text"


def _row_update(cipher: FieldCipher, row: Mapping[Any, Any],
                columns: Sequence[EncryptedColumn]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for col in columns:
        token = row[col.name]
        if token is None:
            continue
        stale = not cipher.is_current(token)
        if col.index_column is None and not stale:
            continue
        plain = cipher.decrypt(token, col.context)
        if stale:
            changes[col.name] = cipher.encrypt(plain, col.context)
        if col.index_column is not None:
            index = cipher.blind_index(plain, col.kind)
            if index != row[col.index_column]:
                changes[col.index_column] = index
    return changes


def reencrypt_table(engine: Engine, cipher: FieldCipher, table: Table, id_column: str,
                    columns: Sequence[str | EncryptedColumn], *, batch: int = 500,
                    progress: Callable[[ReencryptStats], None] | None = None) -> ReencryptStats:
    """Re-seal every value of ``columns`` not under the active key, walking ``table`` by id.

    Batches are short write transactions with compare-and-set row updates (see
    ``identity.reencrypt``), so the application keeps running (old and new keys both decrypt
    meanwhile). Blind-index columns named in ``EncryptedColumn.index_column`` are recomputed
    under the active index key. The pass is idempotent and can be resumed.
    """
    cols = [c if isinstance(c, EncryptedColumn) else EncryptedColumn(c) for c in columns]
    names = [c.name for c in cols] + [c.index_column for c in cols if c.index_column]
    handle = row_rewriter(table, id_column, lambda row: _row_update(cipher, row, cols))
    return walk_table(engine, table, id_column, names, handle, batch=batch, progress=progress)
