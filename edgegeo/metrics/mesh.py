"""Mesh / point-cloud reconstruction metrics (accuracy, completeness, chamfer, F-score), the
protocol of SimpleRecon / TransformerFusion / Atlas: sample points on both surfaces, nearest-
neighbour distances both ways, precision and recall at a distance threshold.

References:

* Sayed et al., "SimpleRecon: 3D Reconstruction Without 3D Convolutions", ECCV 2022 (code:
  https://github.com/nianticlabs/simplerecon).
* Božič et al., "TransformerFusion: Monocular RGB Scene Reconstruction using Transformers", NeurIPS
  2021.
* Murez et al., "Atlas: End-to-End 3D Scene Reconstruction from Posed Images", ECCV 2020.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def surface_points(geometry, n_points: int, seed: int, name: str = "mesh") -> np.ndarray:
    """Points of a surface: ``n_points`` sampled uniformly by area on a triangle mesh
    (Open3D's sampler, seeded with ``seed`` just before sampling), or all points of a cloud.

    Args:
        geometry: legacy ``open3d.geometry.TriangleMesh`` or ``open3d.geometry.PointCloud``.
        n_points: samples on a mesh (ignored for a point cloud).
        seed: Open3D random seed.
        name: used in error messages.
    Returns:
        ``(N, 3) float64`` points, in the geometry's units.
    Raises:
        ValueError for an empty mesh/cloud, a mesh without triangles or zero area, non-finite
        vertices, or another type.
    """
    import open3d as o3d

    if isinstance(geometry, o3d.geometry.PointCloud):
        points = np.asarray(geometry.points, dtype=np.float64)
        if len(points) == 0:
            raise ValueError(f"{name}: point cloud is empty")
    elif isinstance(geometry, o3d.geometry.TriangleMesh):
        if len(geometry.triangles) == 0:
            raise ValueError(f"{name}: mesh has no triangles ({len(geometry.vertices)} vertices)")
        if not np.all(np.isfinite(np.asarray(geometry.vertices))):
            raise ValueError(f"{name}: mesh vertices contain NaN or inf")
        if geometry.get_surface_area() <= 0:
            raise ValueError(f"{name}: mesh has zero surface area")
        o3d.utility.random.seed(seed)
        points = np.asarray(geometry.sample_points_uniformly(number_of_points=n_points).points,
                            dtype=np.float64)
    else:
        raise ValueError(f"{name} must be an open3d TriangleMesh or PointCloud, got "
                         f"{type(geometry).__name__}")
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name}: points contain NaN or inf")
    return points


def mesh_metrics(pred_mesh, gt_mesh, threshold: float = 0.05, n_points: int = 200_000,
                 seed: int = 0) -> dict[str, float]:
    """Compare a reconstructed surface with the ground-truth surface.

    Both surfaces are sampled with :func:`surface_points` (the same seed for each, so identical
    meshes give identical samples); distances are Euclidean nearest-neighbour distances
    (scipy ``cKDTree``), in the meshes' units (metres in edgegeo).

    Args:
        pred_mesh, gt_mesh: legacy ``open3d.geometry.TriangleMesh`` or ``PointCloud``.
        threshold: distance for precision / recall (default 5 cm).
        n_points: samples per mesh (default 200 000).
        seed: sampling seed.
    Returns:
        dict of floats: ``accuracy`` mean pred→gt distance, ``completeness`` mean gt→pred
        distance, ``chamfer`` their mean, ``precision`` fraction (0–1) of pred points within
        ``threshold`` of gt, ``recall`` fraction of gt points within ``threshold`` of pred,
        ``fscore`` 2PR / (P + R) (0 when both are 0).
    Raises:
        ValueError on an empty mesh (see :func:`surface_points`) or a non-positive threshold.
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    pred = surface_points(pred_mesh, n_points, seed, "pred_mesh")
    gt = surface_points(gt_mesh, n_points, seed, "gt_mesh")
    pred_to_gt = cKDTree(gt).query(pred)[0]
    gt_to_pred = cKDTree(pred).query(gt)[0]
    precision = float(np.mean(pred_to_gt < threshold))
    recall = float(np.mean(gt_to_pred < threshold))
    accuracy, completeness = float(pred_to_gt.mean()), float(gt_to_pred.mean())
    return {
        "accuracy": accuracy,
        "completeness": completeness,
        "chamfer": 0.5 * (accuracy + completeness),
        "precision": precision,
        "recall": recall,
        "fscore": 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0,
    }
