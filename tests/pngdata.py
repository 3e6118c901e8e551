"""Build small valid PNGs of any size for tests (wrong-size brand assets)."""

from __future__ import annotations

import struct
import zlib

from polaris_tui.png import SIGNATURE


def chunk(ctype: bytes, body: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(ctype + body))
    return struct.pack(">I", len(body)) + ctype + body + crc


def make_png(width: int, height: int) -> bytes:
    """A minimal valid PNG (8-bit grayscale, black) of the given size."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\x00" * (width + 1) for _ in range(height))
    idat = chunk(b"IDAT", zlib.compress(raw))
    return SIGNATURE + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")
