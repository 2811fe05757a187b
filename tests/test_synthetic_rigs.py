"""Camera rigs: walkthrough smoothness and clearance, stereo GT consistency, view-pair overlap
and CroCo score, camera placement."""
import numpy as np
import pytest

from edgegeo.data.synthetic import (CameraModel, clearance, croco_angle_term, croco_score, generate_scene,
                                    is_free, mine_view_pairs, overlap_iou, sample_free_position, stereo_pair,
                                    view_pair, viewpoint_angle_deg, walkthrough)
from edgegeo.data.synthetic.camera_placement import pose_from_angles
from edgegeo.data.synthetic.primitives import translation
from edgegeo.geometry import K_from_fov

W, H = 128, 96


@pytest.fixture(scope="module")
def scene():
    return generate_scene(21)


@pytest.fixture(scope="module")
def frames(scene):
    return walkthrough(scene, 12, W, H, seed=3, progress=False)


def test_walkthrough_is_smooth_and_overlapping(frames):
    positions = np.array([frame.world_T_cam[:3, 3] for frame in frames])
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    assert np.all((steps > 0.02) & (steps < 0.06)), "walking ~0.35 m/s at 10 fps"
    axes = np.array([frame.world_T_cam[:3, 2] for frame in frames])
    turn = np.degrees(np.arccos(np.clip((axes[1:] * axes[:-1]).sum(axis=1), -1, 1)))
    assert turn.max() < 6.0, "under 60°/s"
    assert [frame.timestamp for frame in frames] == pytest.approx(np.arange(12) / 10.0)
    assert overlap_iou(frames[0], frames[1]) > 0.8
    assert all(frame.depth.min() > 0 for frame in frames)


def test_walkthrough_respects_clearance_and_seed(scene, frames):
    positions = np.array([frame.world_T_cam[:3, 3] for frame in frames])
    assert clearance(scene, positions).min() >= 0.3 - 1e-3
    again = walkthrough(scene, 12, W, H, seed=3, progress=False)
    for first, second in zip(frames, again):
        np.testing.assert_array_equal(first.world_T_cam, second.world_T_cam)
        np.testing.assert_array_equal(first.rgb, second.rgb)


def test_stereo_geometry_and_disparity(scene):
    pair = stereo_pair(scene, W, H, baseline_m=0.12, seed=1)
    left, right = pair.left, pair.right
    np.testing.assert_allclose(right.world_T_cam, left.world_T_cam @ translation((0.12, 0, 0)), atol=1e-12)
    np.testing.assert_array_equal(left.K, right.K)
    valid = left.depth > 0
    np.testing.assert_allclose(pair.disparity[valid] * left.depth[valid], left.K[0, 0] * 0.12, rtol=1e-5)
    assert pair.disparity.dtype == np.float32 and pair.occlusion.dtype == bool
    assert 0.0 < pair.occlusion.mean() < 0.3


def warp_right_to_left(right_rgb, disparity):
    """Sample the right image at (u − d, v) (bilinear); returns image and in-bounds mask."""
    height, width = disparity.shape
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    source = u - disparity
    inside = (source >= 0) & (source <= width - 1)
    left_col = np.clip(np.floor(source).astype(int), 0, width - 2)
    weight = np.clip(source - left_col, 0, 1)[..., None]
    image = right_rgb.astype(np.float64)
    rows = v.astype(int)
    return (1 - weight) * image[rows, left_col] + weight * image[rows, left_col + 1], inside


def test_stereo_disparity_warps_right_onto_left(scene):
    pair = stereo_pair(scene, 192, 144, baseline_m=0.1, seed=2, camera=CameraModel.clean())
    left = pair.left.rgb.astype(np.float64)
    warped, inside = warp_right_to_left(pair.right.rgb, pair.disparity)
    gradient = np.abs(np.diff(left.mean(axis=2), axis=1, prepend=0)) + np.abs(np.diff(left.mean(axis=2), axis=0, prepend=0))
    depth_edge = np.abs(np.diff(pair.left.depth, axis=1, prepend=pair.left.depth[:, :1])) > 0.05
    depth_edge |= np.roll(depth_edge, 1, axis=1) | np.roll(depth_edge, -1, axis=1)
    usable = inside & ~pair.occlusion & ~depth_edge & (pair.left.depth < 20) & (pair.disparity > 0)
    textured = usable & (gradient > 8)
    assert textured.sum() > 200
    error = np.abs(warped - left).mean(axis=2)
    shifted, _ = warp_right_to_left(pair.right.rgb, pair.disparity + 2.0)
    wrong = np.abs(shifted - left).mean(axis=2)
    assert np.median(error[textured]) < 4.0
    assert np.median(error[textured]) < 0.3 * np.median(wrong[textured])
    assert np.median(error[usable]) < 2.0


@pytest.mark.parametrize("baseline", [0.0, -0.1, np.nan, np.inf])
def test_bad_baseline_raises(scene, baseline):
    with pytest.raises(ValueError, match="baseline"):
        stereo_pair(scene, W, H, baseline_m=baseline)


def test_baseline_range(scene):
    baselines = [stereo_pair(scene, 32, 24, seed=s, baseline_range_m=(0.2, 0.3)).baseline_m for s in range(3)]
    assert all(0.2 <= b <= 0.3 for b in baselines) and len(set(baselines)) == 3
    with pytest.raises(ValueError):
        stereo_pair(scene, 32, 24, baseline_range_m=(0.0, 0.3))
    with pytest.raises(ValueError):
        stereo_pair(scene, 32, 24, baseline_range_m=(0.3, 0.2))


def test_overlap_of_identical_and_disjoint_views(scene):
    K = K_from_fov(W, H, 60.0)
    centre = (scene.bounds[0] + scene.bounds[1]) / 2
    centre[2] = 1.4
    ahead = scene.render(K, pose_from_angles(centre, 0.0, 0.0), W, H)
    behind = scene.render(K, pose_from_angles(centre, np.pi, 0.0), W, H)
    assert overlap_iou(ahead, ahead) == pytest.approx(1.0, abs=1e-6)
    assert overlap_iou(ahead, behind) < 0.01
    assert viewpoint_angle_deg(ahead.world_T_cam, behind.world_T_cam) == pytest.approx(180.0)
    side = scene.render(K, pose_from_angles(centre, np.deg2rad(30), 0.0), W, H)
    # Turning by half the field of view in place: half of each image is shared, IoU ≈ 1/3.
    assert overlap_iou(ahead, side) == pytest.approx(1 / 3, abs=0.05)
    assert overlap_iou(ahead, side) == pytest.approx(overlap_iou(side, ahead), abs=1e-9)


def test_croco_angle_term():
    assert croco_angle_term(0.0) == pytest.approx(0.0)
    assert croco_angle_term(60.0) == pytest.approx(1.0)
    assert croco_angle_term(90.0) == pytest.approx(0.0, abs=1e-12)
    assert croco_angle_term(120.0) == 0.0
    angles = np.linspace(0, 180, 181)
    terms = croco_angle_term(angles)
    assert angles[terms.argmax()] == 60.0 and np.all((terms >= 0) & (terms <= 1))
    assert croco_score(0.5, 60.0) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        croco_score(1.5, 30.0)


def test_view_pair_and_miner(scene):
    pair = view_pair(scene, 64, 48, seed=4)
    assert 0.0 <= pair.overlap_iou <= 1.0
    assert pair.viewpoint_angle_deg == pytest.approx(viewpoint_angle_deg(pair.first.world_T_cam, pair.second.world_T_cam))
    assert pair.croco_score == pytest.approx(pair.overlap_iou * croco_angle_term(pair.viewpoint_angle_deg))
    mined = mine_view_pairs(scene, 2, 64, 48, seed=5, candidates_per_pair=4, min_score=0.1, progress=False)
    assert len(mined) == 2
    for candidate in mined:
        assert candidate.overlap_iou > 0.1 and 10 < candidate.viewpoint_angle_deg < 90
        assert candidate.croco_score > 0.05


def test_camera_placement_keeps_clearance(scene):
    rng = np.random.default_rng(0)
    points = np.array([sample_free_position(scene, rng, 0.4) for _ in range(10)])
    assert clearance(scene, points).min() >= 0.4
    assert is_free(scene, points, 0.4).all()
    outside = scene.bounds[1] + 1.0
    assert not is_free(scene, outside[None], 0.1)[0]
    with pytest.raises(ValueError):
        is_free(scene, points, 0.0)


def test_point_inside_an_object_is_not_free():
    from edgegeo.data.synthetic import PointLight, Scene
    from edgegeo.data.synthetic.materials import plain_material
    from edgegeo.data.synthetic.primitives import box
    from edgegeo.data.synthetic.props import Piece

    grey = plain_material("grey", (0.5, 0.5, 0.5))
    room = Piece(box((6.0, 6.0, 3.0)).flipped(), np.eye(4), grey)
    crate = Piece(box((2.0, 2.0, 2.0)), translation((2.0, 2.0, 0.5)), grey)
    scene = Scene([("room", [room]), ("crate", [crate])], [PointLight(np.array([1.0, 1.0, 2.8]), np.ones(3), 1.0)],
                  ambient=(0.1, 0.1, 0.1), bounds=[(0, 0, 0), (6, 6, 3)])
    inside_crate = np.array([[3.0, 3.0, 1.5]])  # 0.5 m from every crate face
    assert clearance(scene, inside_crate)[0] >= 0.5
    assert not is_free(scene, inside_crate, 0.3)[0]
    assert is_free(scene, np.array([[1.0, 1.0, 1.5]]), 0.3)[0]
