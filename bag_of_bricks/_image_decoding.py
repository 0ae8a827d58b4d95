"""Decoding JPEG and PNG files with torchvision (libjpeg-turbo, libpng): the dataset adapters' fast path.

:func:`decode_rgb` returns uint8 RGB ``[3, H, W]`` for the common files — 8-bit JPEGs (gray or colour,
baseline or progressive) and PNGs of 8 bits or fewer per channel (gray, RGB, palette, with or without
alpha; not interlaced) — and ``None`` for everything else, which the caller then reads with Pillow
(16-bit PNGs, CMYK JPEGs, BMP, WebP, GIF, TIFF, images over Pillow's ``MAX_IMAGE_PIXELS``) and for any
file torchvision refuses (truncated or corrupt data), so Pillow names the problem as before. Where both
decode a file they give the same pixels: the same libraries, gray and palette expanded to RGB, alpha
dropped, EXIF orientation not applied. The result is a ``[3, H, W]`` view of ``[H, W, 3]`` memory
(channels-last), which ``transforms.v2`` resizes as it is: no copy to a contiguous ``[3, H, W]`` first
(for 256×256 that copy takes about 0.2 ms, as long as the resize itself).

On one thread (``benchmarks/bench_loader.py`` measures it) torchvision decodes a 256×256 JPEG in about
0.55 of Pillow's time and a PNG in about 0.7 of it. torchvision 0.29 deprecated its image decoding
in favour of TorchCodec; its ``DeprecationWarning`` is silenced here, and when the decoders are gone
:func:`decode_rgb` returns ``None`` for every file (Pillow reads them all).

Example:
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.new("L", (5, 2), 77).save(buffer, "PNG")
    >>> image = decode_rgb(buffer.getvalue())
    >>> image.shape, image[:, 0, 0].tolist()
    (torch.Size([3, 2, 5]), [77, 77, 77])
    >>> decode_rgb(b"BM not a bitmap Pillow would read") is None
    True
"""

from __future__ import annotations

import functools
import struct
import warnings
from collections.abc import Callable

import torch

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_COLOUR_TYPES = (0, 2, 3, 4, 6)  # gray, RGB, palette, gray + alpha, RGBA
JPEG_FRAMES = (0xC0, 0xC1, 0xC2)  # baseline, extended and progressive Huffman: what Pillow reads too
JPEG_STANDALONE = frozenset([0x01, *range(0xD0, 0xD8)])  # markers without a length
JPEG_OTHER_FRAMES = frozenset([0xC3, *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0)])


def decode_rgb(data: bytes) -> torch.Tensor | None:
    """``data`` (a whole image file) decoded by torchvision as uint8 RGB ``[3, H, W]``, else ``None``.

    ``None`` means: let Pillow read it (a format or variant left to Pillow, an image over Pillow's
    ``MAX_IMAGE_PIXELS``, data torchvision refuses, or no torchvision image decoders).
    """
    decode = _torchvision_decoder()
    size = image_size(data)
    if decode is None or size is None or not _within_pixel_limit(*size):
        return None
    try:
        return decode(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    except Exception:  # truncated or corrupt data (RuntimeError): Pillow reads it or names the problem
        return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a JPEG or PNG that :func:`decode_rgb` decodes, from its header; else ``None``.

    Example:
        >>> header = PNG_SIGNATURE + struct.pack(">I4sIIBBBBB", 13, b"IHDR", 640, 480, 8, 2, 0, 0, 0)
        >>> image_size(header), image_size(header.replace(b"\\x08\\x02", b"\\x10\\x02"))  # 16 bits: Pillow's
        ((640, 480), None)
    """
    if data.startswith(PNG_SIGNATURE):
        return _png_size(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 29 or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if colour not in PNG_COLOUR_TYPES or interlace != 0 or width == 0 or height == 0:
        return None
    # 8 bits, or palette indices of 1-4 bits, or 1-bit gray (Pillow's mode "1"); 16 bits and 2/4-bit gray: Pillow
    if depth == 8 or (colour == 3 and depth in (1, 2, 4)) or (colour == 0 and depth == 1):
        return width, height
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the JPEG's marker segments to its frame header (SOF); 8-bit gray or 3-channel frames only."""
    position, end = 2, len(data)
    while position + 4 <= end:
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in JPEG_STANDALONE:
            position += 2
            continue
        if marker == 0xDA or marker in JPEG_OTHER_FRAMES:  # scan before any frame, or a frame Pillow refuses
            return None
        length = (data[position + 2] << 8) | data[position + 3]
        if marker in JPEG_FRAMES:
            if position + 10 > end:
                return None
            precision, height, width, channels = struct.unpack(">BHHB", data[position + 4 : position + 10])
            if precision != 8 or channels not in (1, 3) or width == 0 or height == 0:
                return None  # 12-bit, CMYK/YCCK, or a height given later (DNL): Pillow's
            return width, height
        if length < 2:
            return None
        position += 2 + length
    return None


def _within_pixel_limit(width: int, height: int) -> bool:
    """Pillow's decompression-bomb limit: larger images go to Pillow, which refuses them as before."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    return limit is None or width * height <= limit


@functools.cache
def _torchvision_decoder() -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``decode(bytes tensor) -> RGB [3, H, W]`` with torchvision's ``decode_image``, ``None`` without it."""
    try:
        from torchvision.io import ImageReadMode, decode_image
    except ImportError:
        return None

    def decode(data: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29+: "use TorchCodec"
            return decode_image(data, mode=ImageReadMode.RGB)

    return decode
