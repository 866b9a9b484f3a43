"""What kind of image a cover is, from its bytes (its file name may say otherwise)."""

from __future__ import annotations

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"


def image_type(data: bytes) -> str | None:
    """The MIME type of a JPEG or PNG image from its first bytes; None for anything else."""
    if data.startswith(PNG_SIGNATURE):
        return "image/png"
    if data.startswith(JPEG_SIGNATURE):
        return "image/jpeg"
    return None
