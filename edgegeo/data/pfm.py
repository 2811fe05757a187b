"""PFM (Portable Float Map) files, the format of Middlebury and Scene Flow disparity maps.

Layout: a text header ``PF`` (3 channels) or ``Pf`` (1 channel), then ``W H``, then a scale
whose sign gives the byte order (negative = little endian, positive = big endian), each on its
own line; then ``H`` rows of ``W`` float32 values (interleaved channels), **bottom row first**.

The arrays here are top row first, like every image in edgegeo. Values are returned as stored:
Middlebury marks pixels without ground truth with ``inf``, which the caller masks.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

_DIMENSIONS = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")


def _read_header_line(stream, path: Path, what: str) -> bytes:
    line = stream.readline()
    if not line:
        raise ValueError(f"{path}: corrupt PFM file, header ends before the {what} line")
    return line.rstrip(b"\r\n")


def read_pfm(path: str | Path) -> np.ndarray:
    """Read a PFM file.

    Args:
        path: file path.
    Returns:
        ``(H, W) float32`` for a ``Pf`` file, ``(H, W, 3) float32`` for a ``PF`` file, top row
        first, native byte order. Non-finite values (e.g. Middlebury's ``inf``) are kept.
    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the header is not PFM, or the data is shorter than the header announces.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PFM file not found: {path}")
    with path.open("rb") as stream:
        magic = _read_header_line(stream, path, "magic").strip()
        if magic not in (b"PF", b"Pf"):
            raise ValueError(f"{path}: not a PFM file (magic {magic[:8]!r}, expected b'PF' or b'Pf')")
        channels = 3 if magic == b"PF" else 1
        match = _DIMENSIONS.match(_read_header_line(stream, path, "width/height"))
        if not match:
            raise ValueError(f"{path}: corrupt PFM header, expected 'WIDTH HEIGHT'")
        width, height = int(match.group(1)), int(match.group(2))
        try:
            scale = float(_read_header_line(stream, path, "scale"))
        except ValueError as exc:
            raise ValueError(f"{path}: corrupt PFM header, scale is not a number") from exc
        if scale == 0 or not np.isfinite(scale):
            raise ValueError(f"{path}: corrupt PFM header, scale must be non-zero, got {scale}")
        dtype = np.dtype("<f4" if scale < 0 else ">f4")
        count = width * height * channels
        data = np.frombuffer(stream.read(count * 4), dtype=dtype)
    if data.size != count:
        raise ValueError(f"{path}: truncated PFM file, expected {count} values for "
                         f"{width}x{height}x{channels}, found {data.size}")
    shape = (height, width, 3) if channels == 3 else (height, width)
    return np.ascontiguousarray(data.reshape(shape)[::-1]).astype(np.float32)


def write_pfm(path: str | Path, array: np.ndarray, little_endian: bool = True) -> Path:
    """Write a float map as PFM (scale magnitude 1).

    Args:
        path: output file; parent folders are created.
        array: ``(H, W)`` or ``(H, W, 1)`` (written as ``Pf``) or ``(H, W, 3)`` (``PF``), top row
            first, any real dtype (stored as float32; inf/NaN are stored as is).
        little_endian: byte order of the data (negative scale in the header when True).
    Returns:
        The path written.
    Raises:
        ValueError: on another shape or a non-real dtype.
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"PFM data must have shape (H, W), (H, W, 1) or (H, W, 3), got {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"PFM data must be real numbers, got dtype {array.dtype}")
    height, width = array.shape[:2]
    magic = b"PF" if array.ndim == 3 else b"Pf"
    dtype = np.dtype("<f4" if little_endian else ">f4")
    header = magic + b"\n" + f"{width} {height}\n".encode() + (b"-1.0\n" if little_endian else b"1.0\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        stream.write(header)
        stream.write(np.ascontiguousarray(array[::-1], dtype=dtype).tobytes())
    return path
