"""SM3/HMAC-SM3/SM4 known answers, SM4-GCM envelopes, blind indexes and the key file."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gansu_health.identity.crypto import (
    DecryptionError,
    Envelope,
    envelope_key_id,
    hmac_sm3,
    sm3,
    sm4_encrypt_block,
    sm4_gcm_open,
    sm4_gcm_seal,
)
from gansu_health.identity.keys import (
    FieldCipher,
    FileKeyProvider,
    KeyFileError,
    MemoryKeyProvider,
    UnknownKeyError,
)

SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")


def test_sm3_known_answers() -> None:
    assert sm3(b"abc").hex() == SM3_ABC
    # GB/T 32905 example 2: "abcd" repeated 16 times
    assert sm3(b"abcd" * 16).hex() == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732")


def test_hmac_sm3_is_keyed_and_stable() -> None:
    mac = hmac_sm3(b"k" * 16, b"message")
    assert len(mac) == 32 and mac == hmac_sm3(b"k" * 16, b"message")
    assert mac != hmac_sm3(b"j" * 16, b"message")


def test_sm4_block_vector_gbt_32907() -> None:
    assert sm4_encrypt_block(SM4_KEY, SM4_KEY).hex() == "681edf34d206965e86b3e94f536e4246"
    dec = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).decryptor()
    assert dec.update(bytes.fromhex("681edf34d206965e86b3e94f536e4246")) + dec.finalize() \
        == SM4_KEY


def test_sm4_gcm_round_trip_and_tamper_detection() -> None:
    nonce, sealed = sm4_gcm_seal(SM4_KEY, "甘肃省兰州市城关区".encode(), b"ctx")
    assert len(nonce) == 12 and len(sealed) == len("甘肃省兰州市城关区".encode()) + 16
    assert sm4_gcm_open(SM4_KEY, nonce, sealed, b"ctx").decode() == "甘肃省兰州市城关区"
    flipped = bytes([sealed[0] ^ 1]) + sealed[1:]
    for bad in (flipped, sealed[:-1] + bytes([sealed[-1] ^ 1])):
        with pytest.raises(DecryptionError):
            sm4_gcm_open(SM4_KEY, nonce, bad, b"ctx")
    with pytest.raises(DecryptionError):
        sm4_gcm_open(SM4_KEY, nonce, sealed, b"other")
    with pytest.raises(DecryptionError):
        sm4_gcm_open(bytes(16), nonce, sealed, b"ctx")


def test_envelope_format_and_field_cipher() -> None:
    cipher = FieldCipher(MemoryKeyProvider())
    token = cipher.encrypt("13800138000", "patient.phone")
    version, kid, _ = token.split(":")
    assert (version, kid) == ("g1", "d1") and envelope_key_id(token) == "d1"
    assert cipher.decrypt(token, "patient.phone") == "13800138000"
    assert cipher.encrypt("13800138000", "patient.phone") != token  # fresh nonce each time
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, "patient.address")  # moved to another column
    env = Envelope.decode(token)
    relabelled = Envelope("d2", env.nonce, env.sealed).encode()
    with pytest.raises(DecryptionError):
        cipher.decrypt(relabelled, "patient.phone")  # unknown key id
    with pytest.raises(DecryptionError):
        cipher.decrypt("g1:d1:not-base64!", "")
    with pytest.raises(DecryptionError):
        cipher.decrypt("plaintext", "")


def test_blind_index_normalises_and_separates_keys() -> None:
    keys = MemoryKeyProvider()
    cipher = FieldCipher(keys)
    rid = cipher.blind_index("62010219900101123x", "resident_id")
    assert rid == cipher.blind_index(" 620102 19900101 123X", "resident_id")
    assert len(rid) == 64
    phone = cipher.blind_index("13800138000", "phone")
    assert phone == cipher.blind_index("+86 138-0013-8000", "phone")
    assert phone == cipher.blind_index("１３８００１３８０００", "phone")  # full-width digits
    assert phone != cipher.blind_index("13800138001", "phone")
    assert cipher.blind_index("13800138000", "text") != phone  # kinds are domain-separated
    other = FieldCipher(MemoryKeyProvider())
    assert other.blind_index("13800138000", "phone") != phone  # another key ring
    assert keys.active("index")[1] != keys.active("data")[1]
    assert phone != hmac_sm3(keys.active("data")[1], b"phone\x0013800138000").hex()
    keys.rotate("index")
    assert cipher.blind_index("13800138000", "phone") != phone
    assert cipher.blind_indexes("13800138000", "phone")[1] == phone  # old index still found


def test_rotation_keeps_old_values_readable() -> None:
    keys = MemoryKeyProvider()
    cipher = FieldCipher(keys)
    old = cipher.encrypt("620102199001011234", "rid")
    assert keys.rotate() == "d2" and keys.key_ids("data") == ["d2", "d1"]
    assert not cipher.is_current(old)
    assert cipher.decrypt(old, "rid") == "620102199001011234"
    new = cipher.reencrypt(old, "rid")
    assert envelope_key_id(new) == "d2" and cipher.decrypt(new, "rid") == "620102199001011234"
    assert cipher.reencrypt(new, "rid") == new
    with pytest.raises(UnknownKeyError):
        keys.get("data", "d9")


def test_key_file_created_private_and_shared_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "var" / "keys.json"
    first = FileKeyProvider(path)
    assert path.stat().st_mode & 0o777 == 0o600
    token = FieldCipher(first).encrypt("secret")
    second = FileKeyProvider(path)  # another process reading the same ring
    assert FieldCipher(second).decrypt(token) == "secret"
    assert second.rotate() == "d2"
    assert path.stat().st_mode & 0o777 == 0o600
    newer = FieldCipher(second).encrypt("newer")
    assert FieldCipher(first).decrypt(newer) == "newer"  # unknown kid triggers a reload
    assert first.key_ids("data") == ["d2", "d1"]
    assert not list(path.parent.glob(".*.tmp"))


def test_key_file_refused_when_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    FileKeyProvider(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        FileKeyProvider(path)
    with pytest.raises(KeyFileError, match="does not exist"):
        FileKeyProvider(tmp_path / "missing.json", create=False)


def _rotate_three(path: str) -> None:
    provider = FileKeyProvider(Path(path))
    for _ in range(3):
        provider.rotate()


def test_concurrent_rotations_from_processes_lose_no_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    FileKeyProvider(path)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_rotate_three, args=(str(path),)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    ids = FileKeyProvider(path).key_ids("data")
    assert ids[0] == "d13" and sorted(ids) == sorted(f"d{i}" for i in range(1, 14))
