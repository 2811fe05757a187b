"""A planar prior for mvs depth: confident depth on a flat-coloured image region snapped to the
plane that region lies on.

Indoor scenes are mostly planes (walls, floor, ceiling, table tops, cabinet sides), and a plane
seen by a pinhole camera has an inverse depth that is affine in the normalised image
coordinates: a 3-D plane ``n·X = d`` and ``X = z·(x̄, ȳ, 1)`` give ``1/z = (n·(x̄, ȳ, 1)) / d``.
The network's per-pixel depth on such a surface scatters by a few per cent around it (matching
noise that neighbouring keyframes share, so TSDF fusion does not average it out), and 5 cm at
2.5 m is 2 %. :func:`snap_to_planes` replaces it by the plane:

1. the image is cut into regions of similar colour (Felzenszwalb–Huttenlocher graph
   segmentation, OpenCV ``ximgproc``);
2. in each region of at least ``min_region`` pixels, the pixels whose confidence is at least
   ``fit_confidence`` vote for an inverse-depth plane (RANSAC over ``hypotheses`` triples,
   inliers within ``fit_tolerance`` relative depth, then least squares on the inliers); a
   region where fewer than ``min_inlier_fraction`` of them agree is not planar and is left
   alone;
3. every pixel of a planar region that has depth (the model's confidence mask decides that)
   and lies within ``snap_tolerance`` of the plane takes the plane's depth. Pixels without
   depth stay without: extrapolating a plane into them was measured to be worse than leaving
   them out.

It runs after the network, on numpy, at the network's working resolution
(:class:`~edgegeo.models.mvs.predictor.MVSPredictor`'s ``planar_prior``); the defaults were
chosen on validation walk-throughs (``training/mvs/benchmark_notes.md``).

Upstream ideas this follows (our own implementation): planar priors for textureless areas in
multi-view stereo — ACMP (Xu & Tao, "Planar Prior Assisted PatchMatch Multi-View Stereo", AAAI
2020) and TAPA-MVS (Romanoni & Matteucci, ICCV 2019); the segmentation of Felzenszwalb &
Huttenlocher ("Efficient Graph-Based Image Segmentation", IJCV 2004); RANSAC (Fischler &
Bolles, CACM 1981).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegeo.blas_threads import single_threaded_blas
from edgegeo.geometry.projection import backproject

from .options import PredictorOption


@dataclass(frozen=True)
class PlanarPrior(PredictorOption):
    """Parameters of :func:`snap_to_planes` (pixels are at the image size it is given).

    Attributes:
        segment_k: graph-segmentation threshold ``k`` (OpenCV, RGB in 0–255): larger → larger
            regions.
        segment_sigma: Gaussian smoothing before segmentation, pixels.
        segment_min_size: smallest segment the segmentation keeps, pixels.
        min_region: smallest region a plane is fitted to, pixels.
        fit_confidence: the model confidence a pixel needs to vote for its region's plane.
        min_fit_pixels: fewest voting pixels a region needs.
        max_fit_pixels: voting pixels per region are subsampled to this many.
        fit_tolerance: a voter is an inlier of a plane within this relative depth error.
        min_inlier_fraction: a region is planar if this fraction of its voters are inliers.
        snap_tolerance: a pixel with depth takes the plane's depth if within this relative
            depth of it.
        hypotheses: RANSAC triples per region.
        seed: RANSAC's random seed (the result is deterministic).
    """

    option_name = "planar_prior"

    segment_k: float = 400.0
    segment_sigma: float = 0.8
    segment_min_size: int = 100
    min_region: int = 400
    fit_confidence: float = 0.5
    min_fit_pixels: int = 80
    max_fit_pixels: int = 3000
    fit_tolerance: float = 0.02
    min_inlier_fraction: float = 0.6
    snap_tolerance: float = 0.1
    hypotheses: int = 96
    seed: int = 0

    def __post_init__(self):
        positive = ("segment_k", "segment_sigma", "fit_tolerance", "snap_tolerance")
        counts = ("segment_min_size", "min_region", "min_fit_pixels", "max_fit_pixels",
                  "hypotheses")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise ValueError(f"PlanarPrior.{name} must be a positive number, got {value!r}")
        for name in counts:
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"PlanarPrior.{name} must be a positive integer, got "
                                 f"{value!r}")
        for name in ("fit_confidence", "min_inlier_fraction"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value <= 1):
                raise ValueError(f"PlanarPrior.{name} must be in [0, 1], got {value!r}")
        if self.min_fit_pixels < 3 or self.max_fit_pixels < self.min_fit_pixels:
            raise ValueError(f"PlanarPrior needs 3 <= min_fit_pixels <= max_fit_pixels, got "
                             f"{self.min_fit_pixels} and {self.max_fit_pixels}")


def segment_regions(image: np.ndarray, prior: PlanarPrior) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB → ``(H, W) int32`` region labels ``0 … n−1`` (graph
    segmentation)."""
    import cv2

    segmenter = cv2.ximgproc.segmentation.createGraphSegmentation(
        sigma=float(prior.segment_sigma), k=float(prior.segment_k),
        min_size=int(prior.segment_min_size))
    return segmenter.processImage(np.ascontiguousarray(image)).astype(np.int32)


def fit_inverse_depth_plane(rays: np.ndarray, depth: np.ndarray, prior: PlanarPrior,
                            rng: np.random.Generator) -> np.ndarray | None:
    """RANSAC then least squares of ``1/z = p · (x̄, ȳ, 1)`` to points on their rays.

    Args:
        rays: ``(N, 3)`` float64 normalised rays ``K⁻¹ (u, v, 1)``.
        depth: ``(N,)`` depth in metres, > 0.
    Returns:
        ``(3,)`` plane ``p``, or None where fewer than ``min_inlier_fraction`` of the points
        agree with any hypothesis within ``fit_tolerance``.
    """
    inverse = 1.0 / depth
    triples = rng.integers(0, len(depth), size=(prior.hypotheses, 3))
    systems = rays[triples]
    solvable = np.abs(np.linalg.det(systems)) > 1e-9
    if not solvable.any():
        return None
    planes = np.linalg.solve(systems[solvable], inverse[triples[solvable]][..., None])[..., 0]
    inliers = np.abs((rays @ planes.T) * depth[:, None] - 1.0) < prior.fit_tolerance
    best = inliers[:, inliers.sum(0).argmax()]
    if best.mean() < prior.min_inlier_fraction:
        return None
    plane = np.linalg.lstsq(rays[best], inverse[best], rcond=None)[0]
    refined = np.abs((rays @ plane) * depth - 1.0) < prior.fit_tolerance
    if refined.sum() >= 3:
        plane = np.linalg.lstsq(rays[refined], inverse[refined], rcond=None)[0]
    return plane


def snap_to_planes(image: np.ndarray, depth: np.ndarray, confidence: np.ndarray,
                   K: np.ndarray, prior: PlanarPrior | None = None) -> np.ndarray:
    """Depth on planar, similarly coloured regions replaced by the region's plane (see the
    module docstring).

    Args:
        image: ``(H, W, 3) uint8`` RGB.
        depth: ``(H, W)`` float depth in metres, 0 = no depth (kept as 0).
        confidence: ``(H, W)`` float confidence in [0, 1] of each depth (the mvs model's
            largest plane probability, at this size).
        K: ``(3, 3)`` intrinsics of ``image`` (pixels).
        prior: parameters (default :class:`PlanarPrior`).
    Returns:
        ``(H, W) float32`` depth in metres: the input where no plane applies.
    Raises:
        ValueError: shapes that do not match, non-finite or negative depth, non-finite
            confidence.
    """
    prior = prior or PlanarPrior()
    with single_threaded_blas():
        return _snap_to_planes(np.asarray(image), depth, confidence, K, prior)


def _snap_to_planes(image: np.ndarray, depth, confidence, K, prior: PlanarPrior) -> np.ndarray:
    """:func:`snap_to_planes` after its defaults."""
    depth = np.asarray(depth, dtype=np.float64)
    confidence = np.asarray(confidence, dtype=np.float64)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    if depth.shape != image.shape[:2] or confidence.shape != depth.shape:
        raise ValueError(f"image {image.shape[:2]}, depth {depth.shape} and confidence "
                         f"{confidence.shape} must have the same height and width")
    if not (np.isfinite(depth).all() and np.isfinite(confidence).all()) or (depth < 0).any():
        raise ValueError("depth must be finite and >= 0 (metres, 0 = none) and confidence "
                         "finite")
    height, width = depth.shape
    rays = backproject(np.ones((height, width)), K).reshape(-1, 3)
    labels = segment_regions(image, prior).ravel()
    flat_depth, flat_confidence = depth.ravel(), confidence.ravel()
    output = flat_depth.copy()
    has_depth = flat_depth > 0
    voter = has_depth & (flat_confidence >= prior.fit_confidence)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(labels.max() + 2))
    rng = np.random.default_rng(prior.seed)
    for region in range(labels.max() + 1):
        pixels = order[bounds[region]:bounds[region + 1]]
        if pixels.size < prior.min_region:
            continue
        voters = pixels[voter[pixels]]
        if voters.size < prior.min_fit_pixels:
            continue
        if voters.size > prior.max_fit_pixels:
            voters = rng.choice(voters, prior.max_fit_pixels, replace=False)
        plane = fit_inverse_depth_plane(rays[voters], flat_depth[voters], prior, rng)
        if plane is None:
            continue
        targets = pixels[has_depth[pixels]]
        inverse = rays[targets] @ plane
        ahead = inverse > 0
        targets, plane_depth = targets[ahead], 1.0 / inverse[ahead]
        close = np.abs(plane_depth / flat_depth[targets] - 1.0) < prior.snap_tolerance
        output[targets[close]] = plane_depth[close]
    return output.reshape(height, width).astype(np.float32)
