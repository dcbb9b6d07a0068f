"""A ticket's door pass: the QR code of its code, as base64 PNG.

segno encodes the QR code; the PNG is written here from segno's module matrix, row by row as
whole integers, because segno's own PNG writer scales the image pixel by pixel in Python: 1.5 ms of
the 1.9 ms a pass took, against 0.3 ms here. The image is the one segno writes (a 1-bit greyscale
PNG, 6 pixels a module, a 4-module quiet zone): ``tests/unit/test_qr.py`` compares them pixel for
pixel and decodes both with a real decoder.

The mask is fixed rather than chosen by scoring all eight (segno's default, most of the encoding's
time); any mask is valid QR, and the tests decode passes drawn for many codes.
A pass is drawn once per ticket, when it becomes valid, and kept with it."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence

import segno

MASK = 2
SCALE = 6  # pixels a module
BORDER = 4  # modules of quiet zone, as the QR standard asks
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def qr_png_base64(text: str) -> str:
    return base64.b64encode(qr_png(text)).decode("ascii")


def qr_png(text: str) -> bytes:
    return png_of(segno.make(text, error="m", micro=False, mask=MASK).matrix)


def png_of(matrix: Sequence[Sequence[int]], scale: int = SCALE, border: int = BORDER) -> bytes:
    """A 1-bit greyscale PNG of a module matrix (1 = dark), each module ``scale`` pixels square."""
    width = (len(matrix) + 2 * border) * scale
    padding = "0" * (-width % 8)  # a scanline fills whole bytes
    quiet = "1" * border * scale  # in 1-bit greyscale, 1 is white
    blank = [()] * border
    scanlines = bytearray()
    for row in [*blank, *matrix, *blank]:
        pixels = quiet + "".join("0" * scale if dark else "1" * scale for dark in row) + quiet if row else "1" * width
        # Filter byte 0 (none), then the row's pixels packed eight to a byte; each row repeated ``scale`` times.
        scanlines += (b"\0" + int(pixels + padding, 2).to_bytes((width + len(padding)) // 8, "big")) * scale
    header = struct.pack(">2I5B", width, width, 1, 0, 0, 0, 0)  # bit depth 1, greyscale, no interlace
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(scanlines), 9)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
