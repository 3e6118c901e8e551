"""PNG header parsing: real shipped files, generated files and every way a header breaks."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polaris_tui.paths import shipped_assets_dir
from polaris_tui.png import SIGNATURE, PngError, png_size, read_png_size
from tests.pngdata import chunk, make_png


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("polaris-logo-160.png", (160, 40)),
        ("polaris-logo-320.png", (320, 80)),
        ("expressync-logo-160.png", (160, 40)),
        ("expressync-logo-320.png", (320, 80)),
    ],
)
def test_shipped_assets_have_their_exact_sizes(name: str, size: tuple[int, int]) -> None:
    assert read_png_size(shipped_assets_dir() / name) == size


@given(st.integers(1, 5000), st.integers(1, 5000))
def test_size_round_trips(width: int, height: int) -> None:
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    assert png_size(SIGNATURE + ihdr) == (width, height)


def test_reads_only_the_header_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(make_png(200, 50))
    assert read_png_size(path) == (200, 50)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"GIF89a" + b"\x00" * 40, "signature"),
        (b"", "signature"),
        (SIGNATURE + b"\x00\x00", "truncated"),
        (SIGNATURE + chunk(b"IDAT", b"\x00" * 13), "IHDR"),
        (SIGNATURE + chunk(b"IHDR", b"\x00" * 12) + b"\x00" * 4, "IHDR"),
        (SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 40, 8, 0, 0, 0, 0)), "0x40"),
    ],
)
def test_bad_headers_are_named(data: bytes, fragment: str) -> None:
    with pytest.raises(PngError, match=fragment):
        png_size(data)


def test_corrupt_checksum_is_detected() -> None:
    good = bytearray(make_png(160, 40))
    good[len(SIGNATURE) + 8] ^= 0xFF  # flip a bit of the width
    with pytest.raises(PngError, match="checksum"):
        png_size(bytes(good))
