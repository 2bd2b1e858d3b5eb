"""Card ids and the QR code format: check characters, SM4 sealing, SM2 signatures, keys."""

from __future__ import annotations

import base64
import re

import pytest
from gmssl import sm2

from gansu_health.card import codes, ids, images
from gansu_health.card.codes import CardKeys, CodeError
from gansu_health.identity.keys import MemoryKeyProvider

QR_ALPHANUMERIC = re.compile(r"^[0-9A-Z $%*+\-./:]+$")


def test_card_ids_carry_node_sequence_and_a_check_character() -> None:
    card_id = ids.make_card_id("620000", 42)
    assert card_id[:18] == "GS6200000000000042" and len(card_id) == 19
    assert ids.is_valid(card_id)
    assert ids.make_card_id("gs-620100", 1).startswith("GSGS6201000000000001")
    assert len(ids.make_card_id("x" * 40, 10**10 - 1)) <= 64
    for i in range(2, len(card_id)):  # every single-character change is caught
        for ch in ids.ALPHABET:
            if ch != card_id[i]:
                assert not ids.is_valid(card_id[:i] + ch + card_id[i + 1:])
    for i in range(2, len(card_id) - 1):  # and every adjacent transposition
        swapped = card_id[:i] + card_id[i + 1] + card_id[i] + card_id[i + 2:]
        if swapped != card_id:
            assert not ids.is_valid(swapped)
    with pytest.raises(ValueError):
        ids.make_card_id("620000", 0)


def _raw(text: str) -> bytearray:
    body = text.split(":", 1)[1]
    return bytearray(base64.b32decode(body + "=" * (-len(body) % 8)))


def _text(raw: bytes) -> str:
    return codes.PREFIX + base64.b32encode(raw).decode().rstrip("=")


def test_codes_round_trip_and_fit_qr_alphanumeric_mode() -> None:
    keys = CardKeys(MemoryKeyProvider())
    card_id = ids.make_card_id("620000", 7)
    text, made = codes.encode(keys, "dynamic", card_id, 1_800_000_000, 1_800_000_060)
    assert QR_ALPHANUMERIC.match(text) and len(text) < 230
    assert card_id not in text  # the card id travels encrypted
    opened = codes.decode(keys, text)
    assert opened == made and opened.card_id == card_id and opened.expires_s == 1_800_000_060
    static_text, _ = codes.encode(keys, "static", card_id, 1_800_000_000, 0)
    assert codes.decode(keys, static_text).kind == "static"
    assert codes.decode(keys, text.lower().replace("gsehc1:", "GSEHC1:")).nonce == made.nonce


def test_any_altered_byte_is_forged() -> None:
    keys = CardKeys(MemoryKeyProvider())
    text, _ = codes.encode(keys, "dynamic", ids.make_card_id("620000", 8), 1, 61)
    raw = _raw(text)
    for index in range(len(raw)):
        altered = bytearray(raw)
        altered[index] ^= 0x80
        with pytest.raises(CodeError) as caught:
            codes.decode(keys, _text(bytes(altered)))
        assert caught.value.reason in ("forged", "malformed")
    with pytest.raises(CodeError, match="truncated"):
        codes.decode(keys, _text(bytes(raw[:40])))
    # a code made by another platform's keys does not verify here
    other, _ = codes.encode(CardKeys(MemoryKeyProvider()), "dynamic", "GS1", 1, 61)
    with pytest.raises(CodeError, match="signature does not verify"):
        codes.decode(keys, other)


def test_rotation_keeps_old_codes_and_signs_new_ones_with_the_new_key() -> None:
    provider = MemoryKeyProvider()
    keys = CardKeys(provider)
    old, made = codes.encode(keys, "static", "GS6200000000000001X", 1, 0)
    provider.rotate("data")
    new, fresh = codes.encode(keys, "static", "GS6200000000000001X", 1, 0)
    assert (made.kid, fresh.kid) == ("d1", "d2")
    assert codes.decode(keys, old).kid == "d1" and codes.decode(keys, new).kid == "d2"
    assert [kid for kid, _ in keys.public_keys()] == ["d2", "d1"]


def test_a_terminal_verifies_the_signature_with_the_public_key_alone() -> None:
    keys = CardKeys(MemoryKeyProvider())
    text, _ = codes.encode(keys, "dynamic", "GS6200000000000001X", 1, 61)
    raw = bytes(_raw(text))
    _, public = keys.public_keys()[0]
    verifier = sm2.CryptSM2(private_key=None, public_key="")
    verifier.public_key = public[2:]
    signed = codes.PREFIX.encode() + raw[:-64]
    assert verifier.verify_with_sm3(raw[-64:].hex(), signed)
    assert not verifier.verify_with_sm3(raw[-64:].hex(), signed + b"x")


def test_qr_images() -> None:
    text, _ = codes.encode(CardKeys(MemoryKeyProvider()), "dynamic", "GS6200000000000001X", 1,
                           61)
    svg, media = images.render(text, "svg")
    assert media == "image/svg+xml" and b"<svg" in svg
    png, media = images.render(text, "PNG", scale=2)
    assert media == "image/png" and png.startswith(b"\x89PNG")
    with pytest.raises(Exception, match="svg or png"):
        images.render(text, "gif")
