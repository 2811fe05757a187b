"""Mapping: TSDF fusion of posed depth frames into a mesh (Open3D ``VoxelBlockGrid``,
:mod:`edgegeo.fusion.tsdf`) and RGB-D camera tracking that gives unposed frames their poses
(:mod:`edgegeo.fusion.tracking`).

Part of the core: the runtime pipelines, the MVS benchmark, device profiles and the CLI all
use it, and it depends only on ``edgegeo.geometry``.
"""
from .tsdf import (
    BLOCK_TOUCH_STRIDE,
    FusionConfig,
    TSDFFusion,
    canonical_order,
    check_depth,
    mesh_vertices_as_cloud,
)
from .tracking import RGBDTracker, TrackingConfig, TrackResult

__all__ = ["BLOCK_TOUCH_STRIDE", "FusionConfig", "TSDFFusion", "canonical_order", "check_depth",
           "mesh_vertices_as_cloud", "RGBDTracker", "TrackingConfig", "TrackResult"]
