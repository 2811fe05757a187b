"""Ray-cast depth of a mesh (edgegeo.mesh_render.render_depth): z-depth along the optical axis,
edgegeo's pixel-centre convention, 0 where nothing is hit."""
import numpy as np
import open3d as o3d

from edgegeo.geometry import make_K
from edgegeo.mesh_render import render_depth


def _wall(z: float, half: float) -> o3d.t.geometry.RaycastingScene:
    """A square of side 2·half at depth z, facing the camera at the origin."""
    mesh = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector([[-half, -half, z], [half, -half, z], [half, half, z],
                                    [-half, half, z]]),
        o3d.utility.Vector3iVector([[0, 1, 2], [0, 2, 3]]))
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    return scene


def test_depth_is_along_the_optical_axis_with_pixel_centres_at_integers():
    K = make_K(50.0, 50.0, 20.0, 15.0)
    pose = np.eye(4)
    depth = render_depth(_wall(2.0, 0.5), K, pose, (31, 41))
    assert depth.shape == (31, 41) and depth.dtype == np.float32
    # The square spans x in [-0.5, 0.5] at 2 m: u = 20 ± 12.5 → pixels 8 … 32 hit, 7 and 33 not.
    row = depth[15]
    assert (row[8:33] > 0).all() and row[7] == 0 and row[33] == 0
    np.testing.assert_allclose(depth[depth > 0], 2.0, atol=1e-5)       # z, not ray length
    moved = pose.copy()
    moved[2, 3] = 1.0                                                    # 1 m closer
    np.testing.assert_allclose(render_depth(_wall(2.0, 0.5), K, moved, (31, 41))[15, 20], 1.0,
                               atol=1e-5)
