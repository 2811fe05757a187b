"""ScanNet-style RGB-D exports (the layout of ScanNet's ``SensReader`` export, also used by
many other datasets and by :func:`write_scannet_sequence`)::

    color/<i>.jpg (or .png)            colour frame i
    depth/<i>.png                      16-bit depth in millimetres, 0 = invalid (optional)
    pose/<i>.txt                       4×4 world_T_cam, OpenCV camera axes (optional);
                                       ScanNet writes lines of -inf/nan where tracking failed
    intrinsic/intrinsic_color.txt      4×4, K of the colour images in its top-left 3×3
    intrinsic/intrinsic_depth.txt      4×4, K of the depth images (needed with depth/)
    intrinsic/extrinsic_{color,depth}.txt   optional; expected equal (ScanNet: identity)

Depth and colour are taken to share optical centre and orientation (equal extrinsics), so the
depth of a colour pixel is found by a depth-independent pixel mapping ``K_depth · K_color⁻¹``
(nearest sample, no interpolation across depth edges): ScanNet's 640×480 depth is registered
this way to its 1296×968 colour images.

:func:`open_sequence` detects the format of a folder (this layout or TUM RGB-D).
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from edgegeo.data.frame import Frame
from edgegeo.data.images import load_image, read_depth_png, save_image, write_depth_png
from edgegeo.data.tum import TUMSequence, is_tum_sequence
from edgegeo.geometry import resize_K, validate_K, validate_pose

COLOR_SUFFIXES = (".jpg", ".jpeg", ".png")


def read_matrix_txt(path: str | Path, shape: tuple[int, int] = (4, 4)) -> np.ndarray:
    """Read a whitespace-separated matrix text file (non-finite values are returned as read).

    Returns:
        ``shape`` float64 array.
    Raises:
        FileNotFoundError, or ValueError if the file does not hold ``rows × cols`` numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"matrix file not found: {path}")
    try:
        values = np.array(path.read_text().split(), dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path}: not a matrix of numbers") from exc
    if values.size != shape[0] * shape[1]:
        raise ValueError(f"{path}: expected {shape[0]}x{shape[1]} = {shape[0] * shape[1]} "
                         f"numbers, found {values.size}")
    return values.reshape(shape)


def write_matrix_txt(path: str | Path, matrix: np.ndarray) -> Path:
    """Write a 2-D matrix as text, one row per line (ScanNet style). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(" ".join(f"{v:.9g}" for v in row) for row in np.asarray(matrix)) + "\n")
    return path


def register_depth(depth: np.ndarray, K_depth: np.ndarray, K_target: np.ndarray,
                   target_hw: tuple[int, int]) -> np.ndarray:
    """Resample a depth map into another camera with the same optical centre and orientation.

    Each target pixel takes the nearest depth pixel under ``K_depth · K_target⁻¹`` (depth along
    z is unchanged by this mapping); pixels that map outside the depth image get 0.

    Args:
        depth: ``(h, w) float32`` metres, 0 = invalid.
        K_depth: ``(3, 3)`` intrinsics of ``depth``.
        K_target: ``(3, 3)`` intrinsics of the target image.
        target_hw: ``(H, W)`` of the target image.
    Returns:
        ``(H, W) float32`` metres, 0 = invalid.
    """
    height, width = target_hw
    pixel_map = validate_K(K_depth, "K_depth") @ np.linalg.inv(validate_K(K_target, "K_target"))
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    u_depth = np.rint(pixel_map[0, 0] * u + pixel_map[0, 1] * v + pixel_map[0, 2]).astype(np.int64)
    v_depth = np.rint(pixel_map[1, 1] * v + pixel_map[1, 2]).astype(np.int64)
    inside = (u_depth >= 0) & (u_depth < depth.shape[1]) & (v_depth >= 0) & (v_depth < depth.shape[0])
    registered = np.zeros((height, width), dtype=np.float32)
    registered[inside] = depth[v_depth[inside], u_depth[inside]]
    return registered


def is_scannet_sequence(path: str | Path) -> bool:
    """True if ``path`` has a ``color/`` folder and ``intrinsic/intrinsic_color.txt``."""
    path = Path(path)
    return (path / "color").is_dir() and (path / "intrinsic" / "intrinsic_color.txt").is_file()


class ScanNetSequence:
    """Frames of a ScanNet-style export (see the module docstring for the layout).

    Index or iterate to get :class:`~edgegeo.data.frame.Frame` with ``rgb (H,W,3) uint8``,
    ``K (3,3) float64`` of ``rgb``, ``depth (H,W) float32`` metres registered to ``rgb`` (0 =
    invalid; None without ``depth/``), ``world_T_cam (4,4) float64`` (None without ``pose/``),
    ``timestamp`` None. Frames are ordered by their integer index ``i``.

    Args:
        root: the export folder.
        image_hw: ``(H, W)`` to resize colour (area interpolation; K rescaled) and depth to;
            default: the colour resolution.
    Raises:
        FileNotFoundError if ``root``, ``color/`` or an intrinsics file is missing; ValueError
        on malformed files or when no frame has a valid pose. Frames whose pose holds inf/NaN
        are skipped with one warning; unequal colour/depth extrinsics give a warning (depth is
        then registered ignoring the baseline between the two sensors).
    """

    def __init__(self, root: str | Path, image_hw: tuple[int, int] | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"ScanNet sequence folder not found: {self.root}")
        if not is_scannet_sequence(self.root):
            raise FileNotFoundError(f"{self.root}: not a ScanNet-style export (needs color/ and "
                                    "intrinsic/intrinsic_color.txt)")
        self._color_paths = _indexed_files(self.root / "color", COLOR_SUFFIXES)
        if not self._color_paths:
            raise ValueError(f"{self.root / 'color'}: no colour images named <index>.jpg/.png")
        self._indices = sorted(self._color_paths)
        intrinsic = self.root / "intrinsic"
        self._K_color = validate_K(read_matrix_txt(intrinsic / "intrinsic_color.txt")[:3, :3],
                                   "intrinsic_color")
        self._color_hw = load_image(self._color_paths[self._indices[0]]).shape[:2]
        self.image_hw = tuple(image_hw) if image_hw is not None else self._color_hw
        self.K = resize_K(self._K_color, self._color_hw, self.image_hw)
        self._has_depth = (self.root / "depth").is_dir()
        if self._has_depth:
            self._K_depth = validate_K(read_matrix_txt(intrinsic / "intrinsic_depth.txt")[:3, :3],
                                       "intrinsic_depth")
            _warn_if_extrinsics_differ(intrinsic)
        self._poses: dict[int, np.ndarray] | None = None
        if (self.root / "pose").is_dir():
            self._read_poses()

    def _read_poses(self) -> None:
        poses, invalid = {}, []
        for index in self._indices:
            path = self.root / "pose" / f"{index}.txt"
            matrix = read_matrix_txt(path)
            if not np.all(np.isfinite(matrix)):
                invalid.append(index)
                continue
            poses[index] = validate_pose(matrix, name=str(path))
        if invalid:
            warnings.warn(f"{self.root}: skipped {len(invalid)} of {len(self._indices)} frames "
                          f"with invalid (inf/NaN) poses, e.g. frame {invalid[0]}", stacklevel=3)
        if not poses:
            raise ValueError(f"{self.root}: every pose in pose/ is invalid (inf/NaN)")
        self._indices = sorted(poses)
        self._poses = poses

    @property
    def indices(self) -> list[int]:
        """Frame indices ``i`` (file names) in iteration order, after skipping invalid poses."""
        return list(self._indices)

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, position: int) -> Frame:
        index = self._indices[position]
        color_path = self._color_paths[index]
        rgb = load_image(color_path)
        if rgb.shape[:2] != self._color_hw:
            raise ValueError(f"{color_path}: size {rgb.shape[:2]} differs from the first frame's "
                             f"{self._color_hw} (intrinsic_color.txt holds one K)")
        if rgb.shape[:2] != self.image_hw:
            rgb = cv2.resize(rgb, (self.image_hw[1], self.image_hw[0]), interpolation=cv2.INTER_AREA)
        depth = None
        if self._has_depth:
            raw = read_depth_png(self.root / "depth" / f"{index}.png")
            depth = register_depth(raw, self._K_depth, self.K, self.image_hw)
        pose = None if self._poses is None else self._poses[index].copy()
        return Frame(rgb=rgb, K=self.K.copy(), depth=depth, world_T_cam=pose)

    def __iter__(self) -> Iterator[Frame]:
        return (self[i] for i in range(len(self)))


def write_scannet_sequence(root: str | Path, frames: Sequence[Frame],
                           color_format: str = "jpg") -> Path:
    """Write frames as a ScanNet-style export readable by :class:`ScanNetSequence`.

    Depth is written at the colour resolution (so ``intrinsic_depth.txt`` = ``intrinsic_color.txt``),
    in millimetres; extrinsics are identity. Frames without a pose get a pose file of ``-inf``
    (ScanNet's marker, skipped on reading); ``pose/`` is omitted if no frame has a pose.

    Args:
        root: output folder (created).
        frames: frames sharing one ``K`` and image size.
        color_format: "jpg" (ScanNet, lossy, quality 95) or "png" (lossless).
    Returns:
        ``root``.
    Raises:
        ValueError if frames differ in K or size, if only some have depth, or on bad depth.
    """
    if color_format not in ("jpg", "png"):
        raise ValueError(f"color_format must be 'jpg' or 'png', got {color_format!r}")
    if not frames:
        raise ValueError("no frames to write")
    root = Path(root)
    K = validate_K(frames[0].K)
    hw = frames[0].hw
    with_depth = [f.depth is not None for f in frames]
    if any(with_depth) and not all(with_depth):
        raise ValueError("either every frame or no frame must have depth")
    with_pose = any(f.world_T_cam is not None for f in frames)
    for index, frame in enumerate(frames):
        if frame.hw != hw or not np.allclose(frame.K, K):
            raise ValueError(f"frame {index}: K or image size differs from frame 0 "
                             "(a ScanNet export holds one K)")
        save_image(root / "color" / f"{index}.{color_format}", frame.rgb)
        if frame.depth is not None:
            write_depth_png(root / "depth" / f"{index}.png", frame.depth)
        if with_pose:
            pose = np.full((4, 4), -np.inf) if frame.world_T_cam is None else validate_pose(frame.world_T_cam)
            write_matrix_txt(root / "pose" / f"{index}.txt", pose)
    K44 = np.eye(4)
    K44[:3, :3] = K
    for name in ("intrinsic_color", "intrinsic_depth"):
        write_matrix_txt(root / "intrinsic" / f"{name}.txt", K44)
    for name in ("extrinsic_color", "extrinsic_depth"):
        write_matrix_txt(root / "intrinsic" / f"{name}.txt", np.eye(4))
    return root


def open_sequence(path: str | Path, **options) -> TUMSequence | ScanNetSequence:
    """Open an RGB-D sequence folder, detecting its format.

    Args:
        path: a TUM RGB-D folder (has ``rgb.txt``) or a ScanNet-style export (has ``color/``
            and ``intrinsic/intrinsic_color.txt``).
        options: passed to :class:`~edgegeo.data.tum.TUMSequence` (``intrinsics``,
            ``max_difference``) or :class:`ScanNetSequence` (``image_hw``).
    Returns:
        The reader; index or iterate it for :class:`~edgegeo.data.frame.Frame`.
    Raises:
        FileNotFoundError if ``path`` is missing; ValueError if it is neither format.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"sequence folder not found: {path}")
    if is_tum_sequence(path):
        return TUMSequence(path, **options)
    if is_scannet_sequence(path):
        return ScanNetSequence(path, **options)
    raise ValueError(f"{path}: unknown sequence format (expected TUM RGB-D with rgb.txt, or a "
                     "ScanNet-style export with color/ and intrinsic/intrinsic_color.txt)")


def _indexed_files(folder: Path, suffixes: tuple[str, ...]) -> dict[int, Path]:
    """``{i: path}`` of the files ``<i><suffix>`` in ``folder``."""
    return {int(p.stem): p for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in suffixes and p.stem.isdigit()}


def _warn_if_extrinsics_differ(intrinsic_folder: Path) -> None:
    paths = [intrinsic_folder / f"extrinsic_{name}.txt" for name in ("color", "depth")]
    if all(p.is_file() for p in paths):
        color, depth = (read_matrix_txt(p) for p in paths)
        if not np.allclose(color, depth, atol=1e-6):
            warnings.warn(f"{intrinsic_folder}: extrinsic_color and extrinsic_depth differ; depth "
                          "is registered as if both cameras shared one optical centre (the "
                          "error grows for near surfaces)", stacklevel=4)
