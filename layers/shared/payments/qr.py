"""QR codes for tickets, as base64 PNG."""

from __future__ import annotations

import base64
import io

import segno


def qr_png_base64(text: str) -> str:
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="png", scale=6, border=4)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
