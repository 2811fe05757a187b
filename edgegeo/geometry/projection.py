"""Pixels ↔ camera rays ↔ 3-D points, and depth ↔ disparity (numpy).

Pixel (u, v) = (column, row) with the centre of pixel (0, 0) at (0, 0); camera frame OpenCV.
"""
import numpy as np

from edgegeo.checks import as_finite_array, positive_int, positive_scalar
from .intrinsics import validate_K
from .poses import validate_pose


def _validate_depth(depth, name: str = "depth") -> np.ndarray:
    """(H, W) finite, non-negative depth as float64; ValueError otherwise."""
    depth_map = as_finite_array(depth, name, (None, None))
    if np.any(depth_map < 0):
        raise ValueError(f"{name} must be >= 0 (0 = invalid), got min {depth_map.min()}")
    return depth_map


def pixel_grid(H: int, W: int) -> np.ndarray:
    """Pixel-centre coordinates of an H×W image.

    Returns:
        (H, W, 2) float64 with ``grid[v, u] = (u, v)``.
    """
    H = positive_int(H, "H")
    W = positive_int(W, "W")
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    return np.stack([u, v], axis=-1)


def backproject(depth, K) -> np.ndarray:
    """Lift every pixel of a depth map to a 3-D point in the camera frame.

    Args:
        depth: (H, W) z-depth in metres (any float dtype), finite, ≥ 0; 0 = invalid.
        K: (3, 3) intrinsics of the depth image.
    Returns:
        (H, W, 3) float64 points ``depth · K⁻¹ [u, v, 1]`` in metres; invalid pixels → (0, 0, 0).
    """
    depth_map = _validate_depth(depth)
    K_inv = np.linalg.inv(validate_K(K))
    H, W = depth_map.shape
    pixels = np.concatenate([pixel_grid(H, W), np.ones((H, W, 1))], axis=-1)
    rays = pixels @ K_inv.T
    return rays * depth_map[..., None]


def depth_to_points(depth, K, world_T_cam=None, stride: int = 1) -> np.ndarray:
    """Point cloud of the valid (depth > 0) pixels of a depth map.

    Args:
        depth: (H, W) z-depth in metres, finite, ≥ 0; 0 = invalid.
        K: (3, 3) intrinsics of the depth image.
        world_T_cam: optional (4, 4) camera-to-world pose; if given, points are in the world
            frame, else in the camera frame.
        stride: keep every ``stride``-th row and column (pixels (0, 0), (stride, 0), ...).
    Returns:
        (N, 3) float64 points in metres, in row-major pixel order.
    """
    stride = positive_int(stride, "stride")
    points = backproject(depth, K)[::stride, ::stride]
    valid = points[..., 2] > 0
    points = points[valid]
    if world_T_cam is not None:
        pose = validate_pose(world_T_cam, name="world_T_cam")
        points = points @ pose[:3, :3].T + pose[:3, 3]
    return points


def project(points, K, cam_T_world=None) -> tuple[np.ndarray, np.ndarray]:
    """Project 3-D points to pixels.

    Args:
        points: (N, 3) points in metres, in the camera frame, or in the world frame when
            ``cam_T_world`` is given.
        K: (3, 3) intrinsics.
        cam_T_world: optional (4, 4) world-to-camera transform.
    Returns:
        uv: (N, 2) float64 pixel coordinates (u, v). Only meaningful where ``z > 0``; as in
            ``cv2.projectPoints``, points with ``z == 0`` are divided by 1 instead of 0.
        z: (N,) float64 depth of each point in the camera frame (metres).
    """
    points_array = as_finite_array(points, "points", (None, 3))
    intrinsics = validate_K(K)
    if cam_T_world is not None:
        pose = validate_pose(cam_T_world, name="cam_T_world")
        points_array = points_array @ pose[:3, :3].T + pose[:3, 3]
    z = points_array[:, 2]
    safe_z = np.where(z == 0, 1.0, z)
    uv = (points_array @ intrinsics[:2].T) / safe_z[:, None]
    return uv, z


def _scaled_reciprocal(values, name: str, fx, baseline) -> np.ndarray:
    """``fx · baseline / values`` as float32, keeping 0 (invalid) as 0; validates all inputs."""
    array = as_finite_array(values, name)
    if np.any(array < 0):
        raise ValueError(f"{name} must be >= 0 (0 = invalid), got min {array.min()}")
    product = positive_scalar(fx, "fx") * positive_scalar(baseline, "baseline")
    valid = array > 0
    result = np.zeros_like(array)
    result[valid] = product / array[valid]
    return result.astype(np.float32)


def depth_to_disparity(depth, fx: float, baseline: float) -> np.ndarray:
    """Disparity of a rectified pair from depth: ``disparity = fx · baseline / depth``.

    Args:
        depth: array of z-depth in metres (any shape), finite, ≥ 0; 0 = invalid.
        fx: focal length in pixels, > 0.
        baseline: stereo baseline in metres, > 0.
    Returns:
        float32 disparity in pixels, same shape; 0 where depth is 0.
    """
    return _scaled_reciprocal(depth, "depth", fx, baseline)


def disparity_to_depth(disparity, fx: float, baseline: float) -> np.ndarray:
    """Depth from disparity of a rectified pair: ``depth = fx · baseline / disparity``.

    Args:
        disparity: array of disparity in pixels (any shape), finite, ≥ 0; 0 = invalid.
        fx: focal length in pixels, > 0.
        baseline: stereo baseline in metres, > 0.
    Returns:
        float32 depth in metres, same shape; 0 where disparity is 0.
    """
    return _scaled_reciprocal(disparity, "disparity", fx, baseline)
