"""edgegeo.geometry.poses against numpy/scipy references and closed-form values."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from edgegeo.geometry import (invert_pose, look_at, pose_distance, pose_distance_parts,
                              relative_pose, rotation_angle_deg, validate_pose)


def random_pose(seed):
    """Random rigid 4×4 transform built with scipy (independent of edgegeo)."""
    rng = np.random.default_rng(seed)
    pose = np.eye(4)
    pose[:3, :3] = Rotation.random(random_state=seed).as_matrix()
    pose[:3, 3] = rng.uniform(-3, 3, 3)
    return pose


@pytest.mark.parametrize("seed", range(5))
def test_invert_pose_matches_linalg_inv(seed):
    pose = random_pose(seed)
    np.testing.assert_allclose(invert_pose(pose), np.linalg.inv(pose), atol=1e-12)


def test_relative_pose_maps_b_points_into_a():
    world_T_a, world_T_b = random_pose(10), random_pose(11)
    a_T_b = relative_pose(world_T_a, world_T_b)
    point_b = np.array([0.3, -1.2, 2.5, 1.0])
    np.testing.assert_allclose(a_T_b @ point_b,
                               np.linalg.solve(world_T_a, world_T_b @ point_b), atol=1e-12)


@pytest.mark.parametrize("eye, target", [
    ([1.0, 2.0, 1.5], [0.0, 0.0, 0.5]),
    ([-3.0, 0.5, 0.2], [2.0, -1.0, 1.0]),
    ([0.0, 0.0, 0.0], [1.0, 0.0, 0.0]),
])
def test_look_at_points_camera_at_target_with_image_down_along_world_minus_z(eye, target):
    world_T_cam = look_at(eye, target)
    validate_pose(world_T_cam, atol=1e-12)
    cam_T_world = np.linalg.inv(world_T_cam)
    target_cam = cam_T_world @ np.append(target, 1.0)
    # The target is on the optical axis, in front of the camera.
    np.testing.assert_allclose(target_cam[:2], 0.0, atol=1e-12)
    assert target_cam[2] == pytest.approx(np.linalg.norm(np.subtract(target, eye)))
    # A point straight below the target appears lower in the image (larger y / v).
    below_cam = cam_T_world @ np.append(np.add(target, [0, 0, -0.5]), 1.0)
    assert below_cam[1] > 0 and abs(below_cam[0]) < 1e-12
    # Camera x (image right) is horizontal in the z-up world.
    assert world_T_cam[2, 0] == pytest.approx(0.0, abs=1e-12)


def test_look_at_right_is_right():
    # Looking along +x with z up, world -y is to the right: camera +x.
    world_T_cam = look_at([0, 0, 0], [1, 0, 0])
    np.testing.assert_allclose(world_T_cam[:3, 0], [0, -1, 0], atol=1e-12)


@pytest.mark.parametrize("eye, target, message", [
    ([1, 1, 1], [1, 1, 1], "coincide"),
    ([0, 0, 0], [0, 0, 5], "parallel"),
    ([0, 0, 3], [0, 0, 1], "parallel"),
])
def test_look_at_rejects_degenerate_views(eye, target, message):
    with pytest.raises(ValueError, match=message):
        look_at(eye, target)


@pytest.mark.parametrize("seed", range(4))
def test_rotation_angle_matches_scipy(seed):
    rotation = Rotation.random(random_state=seed)
    assert rotation_angle_deg(rotation.as_matrix()) == pytest.approx(
        np.degrees(rotation.magnitude()), abs=1e-9)


def test_rotation_angle_is_accurate_near_zero():
    small = Rotation.from_rotvec([1e-7, 0, 0]).as_matrix()
    assert rotation_angle_deg(small) == pytest.approx(np.degrees(1e-7), rel=1e-6)


def test_pose_distance_known_values():
    assert pose_distance(np.eye(4)) == 0.0
    translation = np.eye(4)
    translation[:3, 3] = [0.3, 0.4, 0.0]
    assert pose_distance(translation) == pytest.approx(0.5)
    quarter_turn = np.eye(4)
    quarter_turn[:3, :3] = Rotation.from_euler("z", 90, degrees=True).as_matrix()
    # tr R = 1 for 90°: rot term = 2/3 · (3 − 1) = 4/3.
    assert pose_distance(quarter_turn) == pytest.approx(np.sqrt(4.0 / 3.0))
    quarter_turn[:3, 3] = [0.0, 0.0, 2.0]
    assert pose_distance_parts(quarter_turn) == pytest.approx((2.0, 4.0 / 3.0))
    assert pose_distance(quarter_turn) == pytest.approx(np.sqrt(4.0 + 4.0 / 3.0))


def test_validate_pose_returns_float64_copy():
    pose = np.eye(4, dtype=np.float32)
    checked = validate_pose(pose)
    assert checked.dtype == np.float64 and checked is not pose


def bad_pose(kind):
    pose = random_pose(3)
    if kind == "scaled":
        pose[:3, :3] *= 1.1
    elif kind == "reflection":
        pose[:3, 0] *= -1
    elif kind == "nan":
        pose[0, 3] = np.nan
    elif kind == "last_row":
        pose[3, 0] = 0.5
    return pose


@pytest.mark.parametrize("pose, message", [
    (bad_pose("scaled"), "not orthonormal"),
    (bad_pose("reflection"), "det"),
    (bad_pose("nan"), "NaN or inf"),
    (bad_pose("last_row"), "last row"),
    (np.eye(3), r"shape \(4, 4\)"),
])
def test_validate_pose_rejects_bad_input(pose, message):
    with pytest.raises(ValueError, match=message):
        validate_pose(pose, name="world_T_cam")
    with pytest.raises(ValueError, match=message):
        invert_pose(pose)
