"""The part of a ground-truth surface that a sequence of frames actually observed.

Mesh metrics compare a fused reconstruction with the ground truth only where the camera looked
(as ScanNet-style evaluations do with visibility masks): completeness would otherwise punish a
reconstruction for walls no frame saw.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import open3d as o3d

from edgegeo.data.frame import Frame
from edgegeo.geometry import invert_pose, project


def visible_surface_points(mesh: o3d.geometry.TriangleMesh, frames: Iterable[Frame],
                           n_points: int = 200_000, max_depth: float = 3.0,
                           tolerance: float = 0.05, seed: int = 0) -> o3d.geometry.PointCloud:
    """Sample ``n_points`` uniformly on ``mesh`` and keep those seen by at least one frame.

    A point is seen by a frame if it projects inside the image, lies in front of the camera
    closer than ``max_depth`` (metres), and its depth agrees with the frame's depth map within
    ``tolerance`` metres (i.e. it is not occluded).

    Args:
        mesh: ground-truth mesh, metres, world frame.
        frames: frames with ``depth``, ``K`` and ``world_T_cam``.
    Returns:
        The visible points, ``(M,3)`` metres in a PointCloud.
    """
    if not mesh.has_triangles():
        raise ValueError("ground-truth mesh has no triangles")
    o3d.utility.random.seed(seed)
    points = np.asarray(mesh.sample_points_uniformly(n_points).points)
    seen = np.zeros(len(points), bool)
    for frame in frames:
        if frame.depth is None or frame.world_T_cam is None:
            raise ValueError("visibility needs frames with depth and world_T_cam")
        h, w = frame.depth.shape
        uv, z = project(points, frame.K, invert_pose(frame.world_T_cam))
        col, row = np.rint(uv[:, 0]).astype(np.int64), np.rint(uv[:, 1]).astype(np.int64)
        inside = (z > 0) & (z < max_depth) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        idx = np.flatnonzero(inside)
        observed = frame.depth[row[idx], col[idx]]
        seen[idx[(observed > 0) & (np.abs(observed - z[idx]) < tolerance)]] = True
    return o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points[seen]))
