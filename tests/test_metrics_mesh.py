"""Mesh metrics on surfaces with known distances."""
import numpy as np
import open3d as o3d
import pytest

from edgegeo.metrics.mesh import mesh_metrics

N = 20_000


def plane(z=0.0, x_max=1.0, steps=10):
    """Square [0, x_max] x [0, 1] at height z, as a triangulated grid."""
    xs, ys = np.meshgrid(np.linspace(0, x_max, steps + 1), np.linspace(0, 1, steps + 1))
    vertices = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, z)], axis=1)
    faces = []
    for row in range(steps):
        for col in range(steps):
            a = row * (steps + 1) + col
            faces += [[a, a + 1, a + steps + 2], [a, a + steps + 2, a + steps + 1]]
    return o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(vertices),
                                     o3d.utility.Vector3iVector(np.array(faces)))


def sphere_cloud(radius, count=50_000, seed=0):
    directions = np.random.default_rng(seed).normal(size=(count, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return o3d.geometry.PointCloud(o3d.utility.Vector3dVector(radius * directions))


def test_identical_meshes_score_perfectly():
    metrics = mesh_metrics(plane(), plane(), n_points=N)
    assert metrics == {"accuracy": 0.0, "completeness": 0.0, "chamfer": 0.0,
                       "precision": 1.0, "recall": 1.0, "fscore": 1.0}


def test_planes_offset_by_3cm():
    metrics = mesh_metrics(plane(z=0.03), plane(), n_points=N)
    for key in ("accuracy", "completeness", "chamfer"):
        assert metrics[key] == pytest.approx(0.03, abs=1e-3)
    assert metrics["fscore"] == 1.0
    assert mesh_metrics(plane(z=0.03), plane(), threshold=0.02, n_points=N)["fscore"] == 0.0


def test_sphere_against_bigger_sphere():
    metrics = mesh_metrics(sphere_cloud(1.0), sphere_cloud(1.1, seed=1), threshold=0.05)
    assert metrics["accuracy"] == pytest.approx(0.1, abs=2e-3)
    assert metrics["completeness"] == pytest.approx(0.1, abs=2e-3)
    assert metrics["precision"] == metrics["recall"] == metrics["fscore"] == 0.0
    inner = o3d.geometry.TriangleMesh.create_sphere(1.0, resolution=30)
    outer = o3d.geometry.TriangleMesh.create_sphere(1.0, resolution=30).scale(1.1, center=(0, 0, 0))
    assert mesh_metrics(inner, outer, n_points=N)["chamfer"] == pytest.approx(0.1, abs=3e-3)


def test_half_reconstructed_plane_is_accurate_but_half_complete():
    metrics = mesh_metrics(plane(x_max=0.5, steps=10), plane(steps=20), threshold=0.02, n_points=N)
    assert metrics["accuracy"] < 0.01 and metrics["precision"] == 1.0
    assert metrics["recall"] == pytest.approx(0.52, abs=0.02)  # half the plane + the 2 cm band
    assert metrics["completeness"] == pytest.approx(0.125, abs=0.01)  # mean of x - 0.5 over half


def test_empty_inputs_raise():
    with pytest.raises(ValueError, match="no triangles"):
        mesh_metrics(o3d.geometry.TriangleMesh(), plane())
    with pytest.raises(ValueError, match="empty"):
        mesh_metrics(plane(), o3d.geometry.PointCloud())
    with pytest.raises(ValueError, match="TriangleMesh or PointCloud"):
        mesh_metrics(np.zeros((3, 3)), plane())
