"""Image sources and depth-image files: single images, image folders, videos, 16-bit depth PNGs.

Everything returned follows ``conventions.md``: colour images ``(H, W, 3) uint8 RGB``, depth
``(H, W) float32`` metres with ``0`` = invalid.
"""
from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edgegeo.limits import check_image_pixels

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
MM_PER_METRE = 1000.0


def _read_bytes(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise ValueError(f"{path}: empty file (0 bytes)")
    return data


def _decode(path: Path, flags: int) -> np.ndarray:
    """Decode an image file, refusing one whose header claims more than
    :data:`edgegeo.limits.MAX_IMAGE_PIXELS` before any pixel is allocated."""
    data = _read_bytes(path)
    size = _header_size(data)
    if size is not None:
        check_image_pixels(size[1], size[0], str(path))
    image = cv2.imdecode(data, flags)
    if image is None:
        raise ValueError(f"{path}: corrupt or unsupported image file, OpenCV cannot decode it")
    return image


def _header_size(data: np.ndarray) -> tuple[int, int] | None:
    """``(width, height)`` from the file's header (Pillow reads only the header), or None
    when Pillow does not know the format (OpenCV then decides)."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None              # we apply our own budget, without its warning
    try:
        with Image.open(io.BytesIO(data.tobytes())) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def to_rgb_uint8(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Convert an image as OpenCV decodes it (BGR/BGRA/grey, 8 or 16 bit) to RGB uint8.

    Grey is replicated to 3 channels; an alpha channel is dropped (not composited); 16-bit
    values are scaled by 1/257 to 0–255.

    Args:
        image: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` BGR or ``(H, W, 4)`` BGRA, uint8/uint16.
        source: name used in error messages.
    Returns:
        ``(H, W, 3) uint8`` RGB.
    """
    if image.dtype == np.uint16:
        image = np.round(image / 257.0).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"{source}: unsupported pixel type {image.dtype} (expected 8 or 16 bit)")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise ValueError(f"{source}: unsupported image shape {image.shape}")


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB.

    Grey images are replicated to 3 channels, an alpha channel is dropped, 16-bit images are
    scaled to 8 bit (see :func:`to_rgb_uint8`).

    Returns:
        ``(H, W, 3) uint8`` RGB.
    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is empty, corrupt, or not an image OpenCV can decode.
    """
    path = Path(path)
    return to_rgb_uint8(_decode(path, cv2.IMREAD_UNCHANGED), str(path))


def save_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an ``(H, W, 3) uint8`` RGB image; the format follows the suffix (.png lossless,
    .jpg quality 95). Parent folders are created. Returns the path written."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"{path}: OpenCV cannot encode an image with suffix {path.suffix!r}")
    encoded.tofile(str(path))
    return path


def read_depth_png(path: str | Path, units_per_metre: float = MM_PER_METRE) -> np.ndarray:
    """Read a 16-bit depth PNG.

    Args:
        path: a single-channel 16-bit PNG; the value 0 means invalid.
        units_per_metre: stored value of one metre: 1000 (millimetres, RealSense/ScanNet and
            the edgegeo default) or 5000 (TUM RGB-D).
    Returns:
        ``(H, W) float32`` depth in metres, 0 = invalid.
    Raises:
        FileNotFoundError / ValueError: missing, empty or corrupt file, or not single-channel
        16-bit.
    """
    path = Path(path)
    raw = _decode(path, cv2.IMREAD_UNCHANGED)
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise ValueError(f"{path}: depth PNG must be single-channel 16-bit, got shape {raw.shape} "
                         f"dtype {raw.dtype}")
    return (raw.astype(np.float32) / np.float32(units_per_metre)).astype(np.float32)


def write_depth_png(path: str | Path, depth: np.ndarray,
                    units_per_metre: float = MM_PER_METRE) -> Path:
    """Write depth as a 16-bit PNG (values rounded to the nearest unit, 0 = invalid).

    Args:
        path: output ``.png`` path; parent folders are created.
        depth: ``(H, W)`` float metres, 0 = invalid.
        units_per_metre: 1000 (mm, default) or 5000 (TUM); the largest storable depth is
            ``65535 / units_per_metre`` metres (65.5 m in mm).
    Returns:
        The path written.
    Raises:
        ValueError: wrong shape, NaN/inf, negative depth, or depth too large for 16 bits.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(f"depth must be (H, W) float metres, got {depth.shape} {depth.dtype}")
    if not np.all(np.isfinite(depth)):
        raise ValueError("depth contains NaN or inf; mark invalid pixels with 0")
    if depth.min(initial=0.0) < 0:
        raise ValueError(f"depth contains negative values (min {depth.min()} m)")
    units = np.round(depth.astype(np.float64) * units_per_metre)
    if units.max(initial=0.0) > np.iinfo(np.uint16).max:
        raise ValueError(f"depth {depth.max():.3f} m exceeds the 16-bit range "
                         f"({np.iinfo(np.uint16).max / units_per_metre:.3f} m at "
                         f"{units_per_metre:g} units per metre)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(".png", units.astype(np.uint16))
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode the depth PNG")
    encoded.tofile(str(path))
    return path


def _natural_key(path: Path) -> list:
    """Sort key that orders embedded numbers numerically (frame2 before frame10)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class ImageFolder:
    """The images of one folder (not recursive), in natural name order (``2.png`` before
    ``10.png``). Index or iterate to get ``(H, W, 3) uint8`` RGB arrays.

    Attributes:
        paths: the image files, in iteration order.
    """

    def __init__(self, folder: str | Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES):
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"image folder not found: {folder}")
        self.paths = sorted((p for p in folder.iterdir()
                             if p.is_file() and p.suffix.lower() in suffixes), key=_natural_key)
        if not self.paths:
            raise ValueError(f"{folder}: no images (suffixes {', '.join(suffixes)})")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        return load_image(self.paths[index])

    def __iter__(self) -> Iterator[np.ndarray]:
        return (load_image(path) for path in self.paths)


class VideoReader:
    """Frames of a video file (anything OpenCV's FFmpeg backend opens), decoded in order.

    Iterate to get ``(H, W, 3) uint8`` RGB frames; each iteration restarts at the first frame.
    Use as a context manager (or call :meth:`close`) to release the file.

    Attributes:
        path: the video file.
        fps: frames per second the container declares (0 if unknown).
        frame_count: frame count the container declares (may be approximate, 0 if unknown).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"video file not found: {self.path}")
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            raise ValueError(f"{self.path}: OpenCV cannot open this video (corrupt file or "
                             "unsupported codec)")
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS))
        self.frame_count = max(int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._capture is None:
            raise ValueError(f"{self.path}: VideoReader is closed")
        self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        while True:
            ok, frame = self._capture.read()
            if not ok:
                return
            yield to_rgb_uint8(frame, str(self.path))

    def close(self) -> None:
        """Release the video file."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
