"""Draw the app icons (a white cross on the brand green) as PNGs, with no imaging library."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src/gansu_health/ui/static/icons"
GREEN = (11, 110, 79, 255)
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png(size: int, pixel: object) -> bytes:
    """A RGBA PNG whose pixels come from ``pixel(x, y, size)``."""
    rows = bytearray()
    for y in range(size):
        rows.append(0)
        for x in range(size):
            rows.extend(pixel(x, y, size))  # type: ignore[operator]
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + _chunk(b"IEND", b""))


def _cross(x: int, y: int, size: int, scale: float) -> bool:
    centre, arm, half = size / 2, size * 0.30 * scale, size * 0.10 * scale
    dx, dy = abs(x + 0.5 - centre), abs(y + 0.5 - centre)
    return (dx <= half and dy <= arm) or (dy <= half and dx <= arm)


def rounded(x: int, y: int, size: int) -> tuple[int, ...]:
    """The standard icon: rounded square, cross filling most of it."""
    radius = size * 0.2
    cx = min(max(x + 0.5, radius), size - radius)
    cy = min(max(y + 0.5, radius), size - radius)
    if (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 > radius ** 2:
        return CLEAR
    return WHITE if _cross(x, y, size, 1.0) else GREEN


def maskable(x: int, y: int, size: int) -> tuple[int, ...]:
    """The maskable icon: full bleed, the cross inside the 80 % safe zone."""
    return WHITE if _cross(x, y, size, 0.75) else GREEN


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        (OUT / f"icon-{size}.png").write_bytes(png(size, rounded))
    (OUT / "maskable-512.png").write_bytes(png(512, maskable))
    print("icons written to", OUT)
