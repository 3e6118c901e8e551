"""PNG header checks with the standard library only: signature, IHDR chunk, pixel size.

Email templates reference the brand PNGs at exact sizes, so a wrong file must be caught
before upload; reading 33 bytes is enough and needs no image library.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from polaris_tui.errors import PolarisError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR = struct.Struct(">I4sII")  # chunk length, chunk type, width, height
_HEADER_LEN = len(SIGNATURE) + 8 + 13 + 4  # signature, length+type, IHDR data, CRC


class PngError(PolarisError, ValueError):
    """The bytes are not a well-formed PNG header; the message says what is wrong."""

    title = "Invalid PNG"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; raises PngError for anything else."""
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG file (the PNG signature is missing)")
    if len(data) < _HEADER_LEN:
        raise PngError("truncated PNG (the IHDR chunk is incomplete)")
    length, ctype, width, height = _IHDR.unpack_from(data, len(SIGNATURE))
    if ctype != b"IHDR" or length != 13:
        raise PngError("malformed PNG (the first chunk is not a 13-byte IHDR)")
    start = len(SIGNATURE) + 4
    (crc,) = struct.unpack_from(">I", data, start + 4 + 13)
    if zlib.crc32(data[start : start + 4 + 13]) != crc:
        raise PngError("corrupt PNG (the IHDR checksum does not match)")
    if width == 0 or height == 0:
        raise PngError(f"malformed PNG (size {width}x{height})")
    return width, height


def read_png_size(path: Path) -> tuple[int, int]:
    """(width, height) of the PNG file at ``path`` (reads only its header)."""
    with path.open("rb") as fh:
        return png_size(fh.read(_HEADER_LEN))
