"""TSDF fusion: fused meshes reproduce the surface they were made from."""
import numpy as np
import open3d as o3d
import open3d.core as o3c
import pytest
from scipy.spatial import cKDTree

from edgegeo.geometry import invert_pose, look_at
from edgegeo.fusion import FusionConfig, TSDFFusion

W, H = 160, 120
K = np.array([[120.0, 0, (W - 1) / 2], [0, 120.0, (H - 1) / 2], [0, 0, 1]])


def _box_mesh():
    box = o3d.geometry.TriangleMesh.create_box(1.0, 0.6, 0.8)
    return box.translate((-0.5, -0.3, 0.0))


def _render_depth(mesh, world_T_cam):
    """Z-depth of ``mesh`` by ray casting (independent of the fusion code)."""
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    rays = scene.create_rays_pinhole(o3c.Tensor(K), o3c.Tensor(invert_pose(world_T_cam)), W, H)
    t = scene.cast_rays(rays)["t_hit"].numpy()
    direction = rays.numpy()[..., 3:]
    cam_T_world = invert_pose(world_T_cam)
    z_dir = direction @ cam_T_world[:3, :3].T
    depth = np.where(np.isfinite(t), t * z_dir[..., 2], 0).astype(np.float32)
    return depth


def _orbit(n=8, radius=1.6):
    poses = []
    for a in np.linspace(0, 2 * np.pi, n, endpoint=False):
        eye = np.array([radius * np.cos(a), radius * np.sin(a), 1.2])
        poses.append(look_at(eye, np.array([0.0, 0.0, 0.4])))
    return poses


def test_fused_mesh_matches_the_surface():
    box = _box_mesh()
    fusion = TSDFFusion(FusionConfig(voxel_size=0.02, trunc=0.06, max_depth=3.0, color=False))
    for pose in _orbit():
        fusion.integrate(_render_depth(box, pose), K, pose)
    mesh = fusion.extract_mesh()
    assert len(mesh.triangles) > 1000, "fusion must not return an empty mesh"
    fused = np.asarray(mesh.vertices)
    o3d.utility.random.seed(0)
    gt = np.asarray(box.sample_points_uniformly(50_000).points)
    accuracy = cKDTree(gt).query(fused)[0]
    assert np.median(accuracy) < 0.01 and np.percentile(accuracy, 95) < 0.03
    # Every visible face (all but the bottom one, at z=0) is reconstructed.
    visible_gt = gt[gt[:, 2] > 0.02]
    completeness = cKDTree(fused).query(visible_gt)[0]
    assert np.mean(completeness < 0.03) > 0.95
    assert fusion.frames_integrated == 8 and all(s > 0 for s in fusion.integrate_seconds)


def test_colour_is_fused_and_files_are_written(tmp_path):
    box = _box_mesh()
    fusion = TSDFFusion(FusionConfig(voxel_size=0.04))
    red = np.zeros((H, W, 3), np.uint8)
    red[..., 0] = 200
    for pose in _orbit(4):
        fusion.integrate(_render_depth(box, pose), K, pose, red)
    mesh = fusion.save_mesh(tmp_path / "mesh.ply")
    cloud = fusion.save_point_cloud(tmp_path / "cloud.ply")
    colors = np.asarray(mesh.vertex_colors)
    np.testing.assert_allclose(colors.mean(axis=0), [200 / 255, 0, 0], atol=0.02)
    assert len(cloud.points) == len(mesh.vertices) > 0
    assert len(o3d.io.read_triangle_mesh(str(tmp_path / "mesh.ply")).triangles) == len(mesh.triangles)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cloud.ply", "mesh.ply"]


def test_integer_parameters_are_accepted():
    box = _box_mesh()
    pose = _orbit(1)[0]
    fusion = TSDFFusion(FusionConfig(max_depth=5, color=False))
    assert fusion.integrate(_render_depth(box, pose), K, pose) > 0


@pytest.mark.parametrize("color", [False, True])
def test_weight_threshold_counts_frames_and_an_empty_result_is_an_empty_mesh(color, tmp_path):
    box = _box_mesh()
    pose = _orbit(1)[0]
    depth, rgb = _render_depth(box, pose), np.full((H, W, 3), 128, np.uint8)
    fusion = TSDFFusion(FusionConfig(max_depth=5, color=color))      # threshold 1.0
    fusion.integrate(depth, K, pose, rgb if color else None)
    assert len(fusion.extract_mesh().triangles) == 0                  # seen once: not meshed
    assert len(fusion.save_mesh(tmp_path / "m.ply").triangles) == 0   # and no Open3D error
    fusion.save_point_cloud(tmp_path / "c.ply")
    assert len(o3d.io.read_triangle_mesh(str(tmp_path / "m.ply")).vertices) == 0  # valid PLY
    assert len(o3d.io.read_point_cloud(str(tmp_path / "c.ply")).points) == 0
    fusion.integrate(depth, K, pose, rgb if color else None)
    assert len(fusion.extract_mesh().triangles) > 100                 # seen twice
    once = TSDFFusion(FusionConfig(max_depth=5, color=color, weight_threshold=0))
    once.integrate(depth, K, pose, rgb if color else None)
    assert len(once.extract_mesh().triangles) > 100


def test_max_depth_is_respected():
    box = _box_mesh()
    pose = look_at(np.array([2.5, 0.0, 0.4]), np.array([0.0, 0.0, 0.4]))
    fusion = TSDFFusion(FusionConfig(max_depth=1.0, color=False))
    assert fusion.integrate(_render_depth(box, pose), K, pose) == 0.0  # the box is 2 m away
    assert fusion.frames_integrated == 0
    assert len(fusion.extract_mesh().triangles) == 0


def test_depth_in_range_only_off_the_block_grid_changes_nothing():
    # Open3D allocates blocks from every 4th pixel only; depth in range on none of those pixels
    # (here one near pixel at (1, 2)) used to abort with "No block is touched".
    depth = np.full((H, W), 5.0, np.float32)
    depth[1, 2] = 1.0
    fusion = TSDFFusion(FusionConfig(color=False))
    assert fusion.integrate(depth, K, np.eye(4)) == 0.0 and fusion.frames_integrated == 0
    depth[4, 8] = 1.0                                       # on the grid: integrated
    assert fusion.integrate(depth, K, np.eye(4)) > 0 and fusion.frames_integrated == 1


@pytest.mark.parametrize("depth, match", [
    (np.full((H, W), np.nan, np.float32), "NaN"),
    (np.ones((H, W), np.float64), "float32"),
    (np.ones((H, W, 1), np.float32), r"\(H,W\)"),
    (-np.ones((H, W), np.float32), "negative"),
])
def test_bad_depth_is_rejected(depth, match):
    with pytest.raises(ValueError, match=match):
        TSDFFusion(FusionConfig(color=False)).integrate(depth, K, np.eye(4))


def test_bad_pose_intrinsics_and_colour_are_rejected():
    fusion = TSDFFusion()
    depth = np.ones((H, W), np.float32)
    rgb = np.zeros((H, W, 3), np.uint8)
    skewed = np.eye(4)
    skewed[0, 1] = 0.5
    with pytest.raises(ValueError):
        fusion.integrate(depth, K, skewed, rgb)
    with pytest.raises(ValueError):
        fusion.integrate(depth, np.diag([0.0, 1.0, 1.0]), np.eye(4), rgb)
    with pytest.raises(ValueError, match="rgb"):
        fusion.integrate(depth, K, np.eye(4), rgb[:10])
    with pytest.raises(ValueError, match="rgb"):
        fusion.integrate(depth, K, np.eye(4))
    with pytest.raises(ValueError, match="trunc"):
        FusionConfig(voxel_size=0.04, trunc=0.01)
    assert fusion.frames_integrated == 0


def test_extracted_mesh_has_one_order_for_one_surface():
    """Open3D extracts the same surface in varying orders; extract_mesh fixes one."""
    from edgegeo.data.synthetic import generate_scene, walkthrough
    from edgegeo.fusion import FusionConfig, TSDFFusion

    fusion = TSDFFusion(FusionConfig(voxel_size=0.05, trunc=0.15))
    for frame in walkthrough(generate_scene(3), n_frames=4, width=64, height=48, seed=3,
                             progress=False):
        fusion.integrate(frame.depth, frame.K, frame.world_T_cam, frame.rgb)
    first, second = fusion.extract_mesh(), fusion.extract_mesh()
    assert len(first.triangles) > 100 and first.has_vertex_colors()
    for attribute in ("vertices", "triangles", "vertex_colors"):
        np.testing.assert_array_equal(np.asarray(getattr(first, attribute)),
                                      np.asarray(getattr(second, attribute)))


def test_raycast_of_every_block_renders_only_the_fused_blocks():
    """Without a frustum the cast covers the map's blocks, not the hash map's whole buffer
    (whose unused slots hold garbage coordinates that stall or blank Open3D's ray caster)."""
    fusion = TSDFFusion(FusionConfig(voxel_size=0.02, trunc=0.06, color=False))
    for x in (0.0, 0.05, 0.1):
        pose = np.eye(4)
        pose[0, 3] = x
        fusion.integrate(np.full((H, W), 1.2, np.float32), K, pose)
    blocks = fusion.fused_blocks()
    assert 0 < len(blocks) < fusion.config.initial_blocks        # unused slots exist
    # The wall at z = 1.2 m (± truncation) seen from x = 0…0.1: blocks of 16 cm.
    block = fusion.config.voxel_size * fusion.config.block_resolution
    assert set(np.unique(blocks[:, 2])) <= {int(np.floor(z / block)) for z in (1.14, 1.2, 1.26)}
    assert np.abs(blocks[:, :2]).max() * block < 1.5
    pose = np.eye(4)
    pose[0, 3] = 0.05
    depth, _ = fusion.raycast(K, pose, (H, W))
    inside = depth[H // 4:-H // 4, W // 4:-W // 4]
    # Open3D's ray caster drops a few whole image rows now and then (with a frustum too).
    assert (inside > 0).mean() > 0.8
    np.testing.assert_allclose(inside[inside > 0], 1.2, atol=0.02)
