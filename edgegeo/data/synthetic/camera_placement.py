"""Where a camera may be: inside the room, clear of every surface by a margin, not inside an
object; and random viewpoints that look at the room rather than into a wall.
"""
from __future__ import annotations

import numpy as np

from edgegeo.geometry import look_at

_AXES = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.float32)


def clearance(scene, points) -> np.ndarray:
    """Distance from each point to the nearest surface of ``scene``.

    Args:
        points: ``(N,3)`` world points, metres.
    Returns:
        ``(N,) float64`` metres.
    """
    import open3d as o3d

    points = np.asarray(points, np.float32).reshape(-1, 3)
    return scene.raycaster.compute_distance(o3d.core.Tensor(points)).numpy().astype(np.float64)


def is_free(scene, points, clearance_m: float) -> np.ndarray:
    """Whether a camera may stand at each point.

    A point is free if it lies inside the room's interior bounds, at least ``clearance_m``
    from every surface, and not enclosed by an object (rays along ±x, ±y, ±z all hit the front
    of a surface: from inside a closed solid they would hit its back).

    Args:
        points: ``(N,3)`` world points, metres.
        clearance_m: minimum distance to any surface, metres (> 0).
    Returns:
        ``(N,) bool``.
    """
    import open3d as o3d

    if not clearance_m > 0:
        raise ValueError(f"clearance_m must be > 0, got {clearance_m!r}")
    points = np.asarray(points, np.float64).reshape(-1, 3)
    low, high = scene.bounds
    inside = np.all((points > low + clearance_m) & (points < high - clearance_m), axis=1)
    free = inside & (clearance(scene, points) >= clearance_m)
    candidates = np.flatnonzero(free)
    if candidates.size:
        rays = np.concatenate([np.repeat(points[candidates], len(_AXES), axis=0),
                               np.tile(_AXES, (candidates.size, 1))], axis=1).astype(np.float32)
        hits = scene.raycaster.cast_rays(o3d.core.Tensor(rays))
        normals = hits["primitive_normals"].numpy()
        front = np.isfinite(hits["t_hit"].numpy()) & (np.einsum("ni,ni->n", normals, rays[:, 3:]) < 0)
        free[candidates] = front.reshape(-1, len(_AXES)).all(axis=1)
    return free


def sample_free_position(scene, rng: np.random.Generator, clearance_m: float,
                         height_range_m: tuple[float, float] = (0.9, 1.8), batch: int = 64,
                         max_batches: int = 50) -> np.ndarray:
    """A random free camera position (see :func:`is_free`).

    Args:
        height_range_m: camera height above the floor, metres.
    Returns:
        ``(3,) float64`` world point.
    Raises:
        ValueError if no free position is found (room too cluttered for the clearance).
    """
    low, high = scene.bounds
    z_low, z_high = max(height_range_m[0], low[2] + clearance_m), min(height_range_m[1], high[2] - clearance_m)
    if z_low > z_high:
        raise ValueError(f"no camera height in {height_range_m} clears floor and ceiling by {clearance_m} m")
    for _ in range(max_batches):
        points = np.column_stack([rng.uniform(low[0], high[0], batch), rng.uniform(low[1], high[1], batch),
                                  rng.uniform(z_low, z_high, batch)])
        free = np.flatnonzero(is_free(scene, points, clearance_m))
        if free.size:
            return points[free[0]]
    raise ValueError(f"found no free camera position with clearance {clearance_m} m")


def pose_from_angles(eye, yaw_rad: float, pitch_rad: float, roll_rad: float = 0.0) -> np.ndarray:
    """Camera-to-world pose of a camera at ``eye`` looking along heading ``yaw`` (about world
    +z, 0 = +x), tilted up by ``pitch`` and rolled by ``roll`` about its optical axis.

    Returns:
        ``(4,4) float64`` world_T_cam (OpenCV camera axes).
    """
    if abs(pitch_rad) > np.deg2rad(85):
        raise ValueError(f"pitch must be within ±85°, got {np.rad2deg(pitch_rad):.1f}°")
    eye = np.asarray(eye, np.float64)
    forward = np.array([np.cos(pitch_rad) * np.cos(yaw_rad), np.cos(pitch_rad) * np.sin(yaw_rad), np.sin(pitch_rad)])
    world_T_cam = look_at(eye, eye + forward)
    cos, sin = np.cos(roll_rad), np.sin(roll_rad)
    world_T_cam[:3, :3] = world_T_cam[:3, :3] @ np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
    return world_T_cam


def sample_view(scene, rng: np.random.Generator, K: np.ndarray, width: int, height: int,
                clearance_m: float = 0.3, height_range_m: tuple[float, float] = (0.9, 1.8),
                pitch_range_deg: tuple[float, float] = (-30.0, 5.0), roll_std_deg: float = 2.0,
                min_median_depth_m: float = 1.0, min_object_fraction: float = 0.1,
                max_tries: int = 100) -> np.ndarray:
    """A random free viewpoint that looks into the room.

    The view is accepted if, in a low-resolution probe, the median depth is at least
    ``min_median_depth_m``, under half of the image looks outside the room (through windows),
    and at least ``min_object_fraction`` of it shows furniture or objects (not bare walls).

    Returns:
        ``(4,4) float64`` world_T_cam.
    Raises:
        ValueError if no acceptable view is found in ``max_tries``.
    """
    from edgegeo.geometry import scale_K

    from .renderer import depth_and_instance

    probe_scale = 48.0 / width
    probe_K = scale_K(K, probe_scale, probe_scale)
    probe_w, probe_h = 48, max(1, int(round(height * probe_scale)))
    room_diagonal = float(np.linalg.norm(scene.room_size))
    for _ in range(max_tries):
        eye = sample_free_position(scene, rng, clearance_m, height_range_m)
        world_T_cam = pose_from_angles(eye, rng.uniform(0, 2 * np.pi),
                                       np.deg2rad(rng.uniform(*pitch_range_deg)),
                                       np.deg2rad(rng.normal(0, roll_std_deg)))
        depth, instance = depth_and_instance(scene, probe_K, world_T_cam, probe_w, probe_h)
        if (np.median(depth) >= min_median_depth_m and np.mean(depth > room_diagonal) < 0.5
                and np.mean(~scene.is_structure(instance)) >= min_object_fraction):
            return world_T_cam
    raise ValueError(f"found no view with median depth >= {min_median_depth_m} m in {max_tries} tries")
