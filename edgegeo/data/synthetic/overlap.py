"""How much two views share: per-pixel covisibility, the 3-D overlap IoU of the surfaces two
views see, the angle between their viewing directions, and CroCo v2's pair-mining score
``IoU × 4·cosθ·(1 − cosθ)`` (the angle term peaks at θ = 60°).
"""
from __future__ import annotations

import numpy as np

from edgegeo.data.frame import Frame
from edgegeo.geometry import invert_pose, validate_K, validate_pose


def _pixel_rays(K: np.ndarray, height: int, width: int, stride: int) -> np.ndarray:
    """``(h,w,3)`` camera rays ``K⁻¹[u,v,1]`` of the pixels ``(stride·i, stride·j)``."""
    v, u = np.mgrid[0:height:stride, 0:width:stride].astype(np.float64)
    pixels = np.stack([u, v, np.ones_like(u)], axis=-1)
    return pixels @ np.linalg.inv(K).T


def visible_in(depth_a, K_a, world_T_a, depth_b, K_b, world_T_b, stride: int = 1,
               abs_tol_m: float = 0.02, rel_tol: float = 0.02) -> np.ndarray:
    """Which pixels of view a show surface that view b also sees.

    A valid pixel of a is back-projected to 3-D and projected into b; it is visible in b if it
    lands inside b's image in front of b, and b's depth at one of the four pixels around the
    projection agrees with the point's depth in b within ``abs_tol_m + rel_tol · z``.

    Args:
        depth_a, depth_b: ``(H,W) float32`` z-depth in metres, 0 = invalid.
        K_a, K_b: ``(3,3)`` intrinsics; world_T_a, world_T_b: ``(4,4)`` camera-to-world.
        stride: evaluate pixels ``(stride·i, stride·j)`` of view a only.
    Returns:
        ``(ceil(H_a/stride), ceil(W_a/stride)) bool``; False where depth_a is invalid.
    """
    K_a, K_b = validate_K(K_a, "K_a"), validate_K(K_b, "K_b")
    b_T_a = invert_pose(world_T_b) @ validate_pose(world_T_a, "world_T_a")
    depth_a = np.asarray(depth_a, np.float64)
    points_a = _pixel_rays(K_a, *depth_a.shape, stride)
    depth_a = depth_a[::stride, ::stride]
    points_a = points_a * depth_a[..., None]
    depth_b = np.asarray(depth_b, np.float64)
    height_b, width_b = depth_b.shape
    points_b = points_a @ b_T_a[:3, :3].T + b_T_a[:3, 3]
    z = points_b[..., 2]
    in_front = (depth_a > 0) & (z > 1e-6)
    safe_z = np.where(in_front, z, 1.0)
    u = (K_b[0, 0] * points_b[..., 0] + K_b[0, 1] * points_b[..., 1]) / safe_z + K_b[0, 2]
    v = K_b[1, 1] * points_b[..., 1] / safe_z + K_b[1, 2]
    inside = in_front & (u > -0.5) & (u < width_b - 0.5) & (v > -0.5) & (v < height_b - 0.5)
    tolerance = abs_tol_m + rel_tol * z
    visible = np.zeros(depth_a.shape, bool)
    for column in (np.floor(u), np.ceil(u)):
        for row in (np.floor(v), np.ceil(v)):
            c = np.clip(column, 0, width_b - 1).astype(np.int64)
            r = np.clip(row, 0, height_b - 1).astype(np.int64)
            seen = depth_b[r, c]
            visible |= inside & (seen > 0) & (np.abs(seen - z) <= tolerance)
    return visible


def overlap_iou_from_depth(depth_a, K_a, world_T_a, depth_b, K_b, world_T_b, stride: int = 4) -> float:
    """3-D overlap IoU of the surfaces seen by two views (see :func:`overlap_iou`)."""
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride!r}")
    shared_a = visible_in(depth_a, K_a, world_T_a, depth_b, K_b, world_T_b, stride).sum()
    shared_b = visible_in(depth_b, K_b, world_T_b, depth_a, K_a, world_T_a, stride).sum()
    seen_a = (np.asarray(depth_a)[::stride, ::stride] > 0).sum()
    seen_b = (np.asarray(depth_b)[::stride, ::stride] > 0).sum()
    # Points of the shared surface are sampled by both views: count them once (the mean of
    # the two views' counts); points only one view sees are sampled once.
    shared = 0.5 * (shared_a + shared_b)
    union = shared + (seen_a - shared_a) + (seen_b - shared_b)
    return float(shared / union) if union > 0 else 0.0


def overlap_iou(frame_a: Frame, frame_b: Frame, stride: int = 4) -> float:
    """3-D overlap IoU of two views: surface points seen by both / points seen by either.

    Every ``stride``-th pixel (rows and columns) of each view is back-projected to a 3-D
    point; a point is shared if it is visible in the other view (:func:`visible_in`: inside
    its image with consistent depth). Shared points are sampled by both views, so they are
    counted once, as the mean of the two views' counts. (Points are pixel samples, not
    area-weighted: this is the share of the images that correspond, which is what a
    cross-view model sees.)

    Args:
        frame_a, frame_b: frames with depth, K and world_T_cam.
        stride: pixel subsampling.
    Returns:
        IoU in [0, 1]: ≈ 1 for identical views, 0 for views that share no surface.
    """
    for name, frame in (("frame_a", frame_a), ("frame_b", frame_b)):
        if frame.depth is None or frame.world_T_cam is None:
            raise ValueError(f"{name} needs depth and world_T_cam for overlap")
    return overlap_iou_from_depth(frame_a.depth, frame_a.K, frame_a.world_T_cam, frame_b.depth,
                                  frame_b.K, frame_b.world_T_cam, stride)


def viewpoint_angle_deg(world_T_a, world_T_b) -> float:
    """Angle between the optical axes (camera +z) of two cameras, degrees in [0, 180]."""
    axis_a = validate_pose(world_T_a, "world_T_a")[:3, 2]
    axis_b = validate_pose(world_T_b, "world_T_b")[:3, 2]
    return float(np.degrees(np.arccos(np.clip(axis_a @ axis_b, -1.0, 1.0))))


def croco_angle_term(angle_deg) -> np.ndarray | float:
    """CroCo v2 viewpoint term ``max(0, 4·cosθ·(1 − cosθ))``: 0 at 0° and ≥ 90°, 1 at 60°."""
    cosine = np.cos(np.radians(np.asarray(angle_deg, np.float64)))
    term = np.maximum(0.0, 4.0 * cosine * (1.0 - cosine))
    return float(term) if term.ndim == 0 else term


def croco_score(iou: float, angle_deg: float) -> float:
    """CroCo v2 pair-mining score: overlap IoU × :func:`croco_angle_term`."""
    if not 0.0 <= iou <= 1.0:
        raise ValueError(f"iou must be in [0, 1], got {iou!r}")
    return float(iou * croco_angle_term(angle_deg))
