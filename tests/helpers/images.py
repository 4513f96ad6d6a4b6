"""Image files made by the tests (nothing committed): grey stand-in photos, PNG checks, and files
made byte by byte that must be refused."""

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def decompression_bomb(path: Path, width: int = 10_000, height: int = 5_000) -> Path:
    """A valid greyscale PNG of ``width`` x ``height`` zeros (50 MP in ~50 KB by default)."""
    raw = zlib.compressobj(9)
    rows = b"".join(raw.compress(b"\0" * (width + 1)) for _ in range(height)) + raw.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )
    return path


def touch_photos(folder: Path, names) -> None:
    """``folder``/``name`` for each name (sub-folders made): a grey 120x120 image for .jpg and
    .png names (no face), a text file for any other."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in (".jpg", ".png"):
            cv2.imwrite(str(path), np.full((120, 120, 3), 128, np.uint8))
        else:
            path.write_text("not a photo")


def assert_png(path) -> None:
    """``path`` is a PNG file OpenCV reads, larger than 100x100 (a saved plot)."""
    path = Path(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 100
