"""The Middlebury 2014 *Motorcycle* stereo pair with ground truth, as shipped by scikit-image.

scikit-image's data folder holds ``motorcycle_left.png``, ``motorcycle_right.png`` and
``motorcycle_disp.npz``: the ``Motorcycle-perfect`` pair (default exposure) downscaled ×4 by
``skimage.transform.downscale_local_mean``, and the left-view ground-truth disparity at that
scale (``inf`` = no ground truth). The files are read directly, without the network.

Full-resolution calibration (Middlebury ``calib.txt``, 2964×2000 px)::

    cam0 = [3979.911 0 1244.772; 0 3979.911 1019.507; 0 0 1]
    cam1 = [3979.911 0 1369.115; 0 3979.911 1019.507; 0 0 1]
    doffs = 124.343   baseline = 193.001 mm   ndisp = 270   vmin = 23   vmax = 245

Downscaling by 4 maps full-resolution pixel centres as ``u' = (u + 0.5) / 4 − 0.5``
(:func:`edgegeo.geometry.scale_K`), so ``f`` and ``doffs`` (a difference of principal points)
divide by 4 and the principal points move by a further −0.375 px. scikit-image's docstring
divides the principal point by 4 only (311.193 px); that convention differs by 0.375 px and
does not change disparity or depth.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgegeo.data.images import load_image
from edgegeo.geometry import make_K, scale_K

FULL_RES_HW = (2000, 2964)
FULL_RES_K_LEFT = make_K(3979.911, 3979.911, 1244.772, 1019.507)
FULL_RES_K_RIGHT = make_K(3979.911, 3979.911, 1369.115, 1019.507)
FULL_RES_DOFFS_PX = 124.343
BASELINE_M = 0.193001
FULL_RES_NDISP = 270


@dataclass
class MiddleburySample:
    """A rectified stereo pair with left-view ground-truth disparity.

    Attributes:
        name: scene name.
        left, right: ``(H, W, 3) uint8`` RGB rectified images.
        disparity: ``(H, W) float32`` ground-truth disparity of the left view in pixels; 0 where
            there is no ground truth (see ``valid``). Left pixel ``(u, v)`` matches right pixel
            ``(u − d, v)``.
        valid: ``(H, W) bool``, True where ``disparity`` is ground truth.
        K_left, K_right: ``(3, 3) float64`` intrinsics of the two images (same f and cy).
        baseline_m: camera baseline in metres.
        doffs: ``K_right.cx − K_left.cx`` in pixels.
        ndisp: the dataset's bound on disparity at this resolution in pixels (Middlebury gives
            it to every method; use it to size a disparity search).
        scale: this sample's width over the full-resolution width (0.25 for Motorcycle).
    """

    name: str
    left: np.ndarray
    right: np.ndarray
    disparity: np.ndarray
    valid: np.ndarray
    K_left: np.ndarray
    K_right: np.ndarray
    baseline_m: float
    doffs: float
    ndisp: float
    scale: float

    def depth(self, disparity: np.ndarray | None = None) -> np.ndarray:
        """Depth of the left view, ``baseline · f / (d + doffs)``.

        Args:
            disparity: ``(H, W)`` disparity in pixels of this sample's resolution; default the
                ground truth. Non-finite or ≤ 0 disparities (edgegeo's "no match") are invalid.
        Returns:
            ``(H, W) float32`` metres, 0 = invalid (and 0 where the ground truth is missing
            when ``disparity`` is None).
        """
        if disparity is None:
            disparity, valid = self.disparity, self.valid
        else:
            disparity = np.asarray(disparity, dtype=np.float64)
            if disparity.shape != self.disparity.shape:
                raise ValueError(f"disparity must have shape {self.disparity.shape}, got "
                                 f"{disparity.shape}")
            with np.errstate(invalid="ignore"):
                valid = np.isfinite(disparity) & (disparity > 0)
        depth = np.zeros(self.disparity.shape, dtype=np.float32)
        depth[valid] = self.baseline_m * self.K_left[0, 0] / (disparity[valid] + self.doffs)
        return depth


def skimage_data_dir() -> Path:
    """scikit-image's bundled data folder."""
    import skimage

    return Path(skimage.__file__).resolve().parent / "data"


def load_motorcycle(data_dir: str | Path | None = None) -> MiddleburySample:
    """Load Middlebury 2014 Motorcycle at ¼ resolution (741×500) from scikit-image's data.

    Args:
        data_dir: folder holding ``motorcycle_{left,right}.png`` and ``motorcycle_disp.npz``;
            default scikit-image's data folder.
    Returns:
        :class:`MiddleburySample` with calibration scaled to the image size (``scale`` = image
        width / 2964, checked to equal image height / 2000).
    Raises:
        FileNotFoundError if a file is missing; ValueError if the files disagree in size or do
        not have the Motorcycle aspect ratio.
    """
    folder = Path(data_dir) if data_dir is not None else skimage_data_dir()
    paths = [folder / name for name in ("motorcycle_left.png", "motorcycle_right.png",
                                        "motorcycle_disp.npz")]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"Middlebury Motorcycle file not found: {path} (part of the "
                                    "scikit-image distribution)")
    left, right = load_image(paths[0]), load_image(paths[1])
    with np.load(paths[2]) as archive:
        raw = np.asarray(archive["arr_0"], dtype=np.float32)
    if not (left.shape == right.shape and raw.shape == left.shape[:2]):
        raise ValueError(f"Motorcycle files disagree in size: left {left.shape}, right "
                         f"{right.shape}, disparity {raw.shape}")
    height, width = raw.shape
    scale = width / FULL_RES_HW[1]
    if abs(height / FULL_RES_HW[0] - scale) > 1e-9:
        raise ValueError(f"Motorcycle image size {width}x{height} is not a uniform downscale of "
                         f"{FULL_RES_HW[1]}x{FULL_RES_HW[0]}")
    valid = np.isfinite(raw) & (raw > 0)
    return MiddleburySample(
        name="Motorcycle", left=left, right=right,
        disparity=np.where(valid, raw, 0.0).astype(np.float32), valid=valid,
        K_left=scale_K(FULL_RES_K_LEFT, scale, scale), K_right=scale_K(FULL_RES_K_RIGHT, scale, scale),
        baseline_m=BASELINE_M, doffs=FULL_RES_DOFFS_PX * scale, ndisp=FULL_RES_NDISP * scale,
        scale=scale)


def warp_right_to_left(right: np.ndarray, disparity: np.ndarray) -> np.ndarray:
    """Resample the right image at the left pixels' matches ``(u − d, v)`` (bilinear).

    Args:
        right: ``(H, W, C)`` or ``(H, W)`` image.
        disparity: ``(H, W)`` left-view disparity in pixels.
    Returns:
        ``(H, W, C) float32`` (or ``(H, W)``) right image seen from the left view; pixels whose
        match falls outside the right image are NaN.
    """
    height, width = disparity.shape
    u, v = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_u = u - disparity.astype(np.float32)
    return cv2.remap(right.astype(np.float32), map_u, v, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)
