"""The visible part of a ground-truth surface."""
import numpy as np
import open3d as o3d
import pytest

from edgegeo.data.frame import Frame
from edgegeo.data.visibility import visible_surface_points
from edgegeo.geometry import K_from_fov, look_at


def _frame(eye, target, width=64, height=48):
    return Frame(rgb=np.zeros((height, width, 3), np.uint8), K=K_from_fov(width, height, 60.0),
                 world_T_cam=look_at(np.asarray(eye, float), np.asarray(target, float)))


def test_only_the_faces_a_camera_sees_are_kept():
    box = o3d.geometry.TriangleMesh.create_box(1.0, 1.0, 1.0)       # [0,1]^3
    frame = _frame([3.0, 0.5, 0.5], [0.5, 0.5, 0.5])                   # looks at the x = 1 face
    points = np.asarray(visible_surface_points(box, [frame], max_depth=5.0, spacing=0.02).points)
    assert len(points) > 500
    np.testing.assert_allclose(points[:, 0], 1.0, atol=1e-5)          # the far faces are occluded
    # Thinned to a uniform density: about one point per 2 cm cell of the face it saw.
    assert 0.5 * (1 / 0.02) ** 2 < len(points) < 1.5 * (1 / 0.02) ** 2 * 1.2


def test_max_depth_and_subsampling():
    box = o3d.geometry.TriangleMesh.create_box(1.0, 1.0, 1.0)
    frames = [_frame([3.0, 0.5, 0.5], [0.5, 0.5, 0.5]), _frame([0.5, 3.0, 0.5], [0.5, 0.5, 0.5])]
    assert len(visible_surface_points(box, frames, max_depth=1.5).points) == 0
    both = np.asarray(visible_surface_points(box, frames, max_depth=5.0, n_points=300).points)
    assert len(both) == 300
    assert (np.isclose(both[:, 0], 1.0, atol=1e-5) | np.isclose(both[:, 1], 1.0, atol=1e-5)).all()


def test_bad_input():
    with pytest.raises(ValueError, match="no triangles"):
        visible_surface_points(o3d.geometry.TriangleMesh(), [_frame([3, 0, 0], [0, 0, 0])])
    box = o3d.geometry.TriangleMesh.create_box()
    with pytest.raises(ValueError, match="at least one frame"):
        visible_surface_points(box, [])
