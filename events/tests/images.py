"""Real image bytes for tests (Pillow writes them; nothing is faked)."""

import io
import struct
import zlib

from PIL import Image


def image_bytes(kind: str = "JPEG", size=(64, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 180, 40)).save(buffer, format=kind)
    return buffer.getvalue()


def png_1bit(width: int, height: int) -> bytes:
    """A real, fully decodable black PNG: many pixels in a few kilobytes."""
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height pixels and that carries no pixel data: what
    a decompression bomb looks like before anything is decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def media_files(root) -> list:
    """Every file under the media root (tests point MEDIA_ROOT at their own folder)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
