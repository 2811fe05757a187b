"""The part of a ground-truth surface that a sequence of posed cameras actually observed.

Mesh metrics compare a fused reconstruction with the ground truth only where the cameras
looked (as ScanNet-style evaluations do with visibility masks): completeness would otherwise
punish a reconstruction for walls no frame saw, and uniform samples of a scene with a large
outdoor backdrop would mostly fall where no camera looked.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import open3d as o3d
import open3d.core as o3c

from edgegeo.data.frame import Frame
from edgegeo.geometry import scale_K, validate_K, validate_pose


def visible_surface_points(mesh: o3d.geometry.TriangleMesh, frames: Iterable[Frame],
                           n_points: int = 200_000, max_depth: float = 3.0,
                           oversample: int = 2, spacing: float = 0.01,
                           seed: int = 0) -> o3d.geometry.PointCloud:
    """Uniform samples of the surface of ``mesh`` seen by the cameras of ``frames``.

    The mesh is ray-cast from every frame's camera at ``oversample`` × its resolution (so
    occlusion is exact), hits closer than ``max_depth`` (z, metres) are pooled, thinned to one
    point per ``spacing``-metre voxel (so density no longer depends on viewing distance) and
    at most ``n_points`` of them are drawn at random.

    Args:
        mesh: ground-truth mesh, metres, world frame.
        frames: frames with ``K`` and ``world_T_cam`` (depth is not used).
    Returns:
        ``(M,3)`` points (M ≤ ``n_points``), metres, world frame, in a PointCloud.
    """
    if not mesh.has_triangles():
        raise ValueError("ground-truth mesh has no triangles")
    if oversample < 1 or spacing <= 0 or max_depth <= 0:
        raise ValueError(f"need oversample >= 1, spacing > 0, max_depth > 0; got {oversample}, "
                         f"{spacing}, {max_depth}")
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    pooled = []
    for frame in frames:
        if frame.world_T_cam is None:
            raise ValueError("visibility needs frames with world_T_cam")
        height, width = (oversample * s for s in frame.hw)
        K = scale_K(validate_K(frame.K), oversample, oversample)
        world_T_cam = validate_pose(frame.world_T_cam)
        u, v = np.meshgrid(np.arange(width), np.arange(height))
        rays_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1],
                             np.ones_like(u, dtype=np.float64)], -1).reshape(-1, 3)
        rays = np.concatenate([np.broadcast_to(world_T_cam[:3, 3], rays_cam.shape),
                               rays_cam @ world_T_cam[:3, :3].T], axis=1).astype(np.float32)
        t_hit = scene.cast_rays(o3c.Tensor(rays))["t_hit"].numpy()   # = z, as ray z is 1
        keep = t_hit < max_depth
        pooled.append(rays[keep, :3] + t_hit[keep, None] * rays[keep, 3:])
    if not pooled:
        raise ValueError("visibility needs at least one frame")
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.concatenate(pooled).astype(np.float64)))
    points = np.asarray(cloud.voxel_down_sample(spacing).points)
    if len(points) > n_points:
        points = points[np.random.default_rng(seed).choice(len(points), n_points, replace=False)]
    return o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
