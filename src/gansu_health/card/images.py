"""QR symbols of card codes as SVG or PNG (segno; the text fits alphanumeric mode)."""

from __future__ import annotations

import io

import segno

from gansu_health.core.errors import BadRequest

MEDIA_TYPES = {"svg": "image/svg+xml", "png": "image/png"}


def render(text: str, fmt: str, scale: int = 4) -> tuple[bytes, str]:
    """Return the QR symbol of ``text`` (error correction M, 4-module quiet zone) and its
    media type."""
    kind = fmt.strip().lower()
    if kind not in MEDIA_TYPES:
        raise BadRequest(f"Unknown image format '{fmt}'; use svg or png", expression="image")
    if not 1 <= scale <= 20:
        raise BadRequest("The image scale must be between 1 and 20 pixels a module",
                         expression="scale")
    symbol = segno.make_qr(text, error="m", boost_error=False)
    out = io.BytesIO()
    symbol.save(out, kind=kind, scale=scale, border=4)
    return out.getvalue(), MEDIA_TYPES[kind]


def svg_markup(text: str, scale: int = 4) -> str:
    """The QR symbol of ``text`` as an inline ``<svg>`` element (no XML declaration, no style
    attributes: it can sit in a page under a strict content security policy)."""
    symbol = segno.make_qr(text, error="m", boost_error=False)
    out = io.BytesIO()
    symbol.save(out, kind="svg", scale=scale, border=4, xmldecl=False, svgns=True,
                svgclass="qr-symbol", lineclass=None, omitsize=False, light="#fff")
    return out.getvalue().decode("ascii")
