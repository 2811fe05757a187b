"""TSDF fusion of posed depth frames into a mesh (Open3D ``VoxelBlockGrid``).

Part of the core: the runtime pipelines, the MVS benchmark, device profiles and the CLI all
use it, and it depends only on ``edgegeo.geometry``. See :mod:`edgegeo.fusion.tsdf`.
"""
from .tsdf import (
    BLOCK_TOUCH_STRIDE,
    FusionConfig,
    TSDFFusion,
    canonical_order,
    check_depth,
    mesh_vertices_as_cloud,
)

__all__ = ["BLOCK_TOUCH_STRIDE", "FusionConfig", "TSDFFusion", "canonical_order", "check_depth",
           "mesh_vertices_as_cloud"]
