"""Counting what people see, and shrinking an image to a network's size limit.

- ``graphemes(text)``: user-perceived characters (extended grapheme clusters,
  ``regex``'s ``\\X``): a ZWJ family, a flag, a letter with its combining
  accents each count one, as Bluesky and Mastodon count them.
- ``utf8_length(text)``: bytes in UTF-8.
- ``fit_image(data, mime, max_bytes=, max_side=)``: a ``Fitted`` image with its
  size in pixels: the image itself when it is small enough, else re-encoded
  with Pillow as a JPEG that is (orientation applied, transparency flattened
  on white, longest side at most ``max_side``); raises ``MediaError`` when it
  cannot be read or made small enough.

Downloading an image (timeout, byte cap, type check) is ``_media.download_image``.
"""

from __future__ import annotations

import io
import warnings
from typing import Final, NamedTuple

import regex  # type: ignore[import-untyped]
from PIL import Image, ImageOps, UnidentifiedImageError

from autoposter.publishers._media import MediaError

__all__ = ["Fitted", "fit_image", "graphemes", "utf8_length"]

_GRAPHEME = regex.compile(r"\X")
MAX_PIXELS: Final = 50_000_000  # a bigger picture is refused before it is decoded
_QUALITIES: Final = (85, 80, 72, 65, 58, 50, 42, 35)
_ORIENTATION: Final = 0x0112  # the EXIF tag


def graphemes(text: str) -> int:
    """How many user-perceived characters ``text`` has."""
    if text.isascii():
        return len(text) - text.count("\r\n")  # one grapheme per character but CR LF
    return len(_GRAPHEME.findall(text))


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


class Fitted(NamedTuple):
    data: bytes
    mime: str
    width: int
    height: int


def fit_image(data: bytes, mime: str, *, max_bytes: int, max_side: int = 2000) -> Fitted:
    """The image unchanged when within both limits, else a JPEG that is."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size
                if width * height > MAX_PIXELS:
                    raise MediaError(f"the image has too many pixels ({width}x{height})")
                if len(data) <= max_bytes and max(width, height) <= max_side:
                    if opened.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8):
                        width, height = height, width  # shown turned a quarter
                    return Fitted(data, mime, width, height)
                opened.seek(0)  # an animation keeps its first frame
                image = ImageOps.exif_transpose(opened)
                if image.mode in ("RGBA", "LA", "P", "PA"):
                    rgba = image.convert("RGBA")
                    flat = Image.new("RGB", rgba.size, (255, 255, 255))
                    flat.paste(rgba, mask=rgba.getchannel("A"))
                    image = flat
                else:
                    image = image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Warning) as e:
        raise MediaError(f"the image cannot be read ({type(e).__name__})") from e
    side = max_side
    for quality in _QUALITIES:
        resized = image.copy()
        resized.thumbnail((side, side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        resized.save(out, "JPEG", quality=quality, optimize=True)
        if out.tell() <= max_bytes:
            return Fitted(out.getvalue(), "image/jpeg", resized.width, resized.height)
        side = max(int(side * 0.8), 320)
    raise MediaError(f"the image cannot be made smaller than {max_bytes} bytes")
