"""Geometry core: intrinsics, rigid poses, projection, differentiable warping, plane sweep.

Conventions: OpenCV camera frame (x right, y down, z forward), pixel (0, 0) centre at (0, 0),
``K`` (3, 3) float64, ``world_T_cam`` (4, 4) float64 camera-to-world, depth in metres
(float32, 0 = invalid). numpy modules: intrinsics, poses, projection; torch modules (batched,
differentiable): warp, planesweep.
"""
from .intrinsics import K_from_fov, crop_K, make_K, resize_K, scale_K, validate_K
from .planesweep import log_depth_planes, plane_sweep_grid, plane_sweep_warp
from .poses import (invert_pose, look_at, pose_distance, pose_distance_parts, relative_pose,
                    rotation_angle_deg, validate_pose)
from .projection import (backproject, depth_to_disparity, depth_to_points, disparity_to_depth,
                         pixel_grid, project)
from .warp import backproject_torch, pixel_rays, pixel_to_grid, project_to_camera, warp_by_depth

__all__ = [
    "make_K", "K_from_fov", "validate_K", "scale_K", "resize_K", "crop_K",
    "validate_pose", "invert_pose", "relative_pose", "look_at", "rotation_angle_deg",
    "pose_distance", "pose_distance_parts",
    "pixel_grid", "backproject", "depth_to_points", "project",
    "depth_to_disparity", "disparity_to_depth",
    "backproject_torch", "pixel_rays", "pixel_to_grid", "project_to_camera", "warp_by_depth",
    "log_depth_planes", "plane_sweep_grid", "plane_sweep_warp",
]
