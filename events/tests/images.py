"""Real image bytes for tests (Pillow writes them; nothing is faked)."""

import io

from PIL import Image


def image_bytes(kind: str = "JPEG", size=(64, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 180, 40)).save(buffer, format=kind)
    return buffer.getvalue()


def media_files(root) -> list:
    """Every file under the media root (tests point MEDIA_ROOT at their own folder)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
