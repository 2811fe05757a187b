"""edgegeo.geometry.projection against cv2.projectPoints and Open3D."""
import cv2
import numpy as np
import open3d as o3d
import pytest
from scipy.spatial.transform import Rotation

from edgegeo.geometry import (backproject, depth_to_disparity, depth_to_points,
                              disparity_to_depth, make_K, pixel_grid, project)


def random_camera(seed, H=30, W=40):
    """Seeded random intrinsics and world_T_cam (scipy rotation)."""
    rng = np.random.default_rng(seed)
    K = make_K(*rng.uniform(30, 60, 2), (W - 1) / 2 + rng.uniform(-3, 3),
               (H - 1) / 2 + rng.uniform(-3, 3))
    world_T_cam = np.eye(4)
    world_T_cam[:3, :3] = Rotation.random(random_state=seed).as_matrix()
    world_T_cam[:3, 3] = rng.uniform(-2, 2, 3)
    return K, world_T_cam


def random_depth(seed, H=30, W=40):
    """float32 depth with ~20 % invalid (0) pixels."""
    rng = np.random.default_rng(seed + 100)
    depth = rng.uniform(0.3, 6.0, (H, W)).astype(np.float32)
    depth[rng.random((H, W)) < 0.2] = 0
    return depth


def test_pixel_grid_layout():
    grid = pixel_grid(3, 4)
    assert grid.shape == (3, 4, 2) and grid.dtype == np.float64
    np.testing.assert_array_equal(grid[2, 1], [1, 2])


@pytest.mark.parametrize("seed", range(3))
def test_project_matches_cv2_project_points(seed):
    K, world_T_cam = random_camera(seed)
    cam_T_world = np.linalg.inv(world_T_cam)
    rng = np.random.default_rng(seed)
    # World points in front of the camera.
    points_cam = np.column_stack([rng.uniform(-1, 1, (50, 2)), rng.uniform(0.5, 5, 50)])
    points_world = points_cam @ world_T_cam[:3, :3].T + world_T_cam[:3, 3]
    rvec, _ = cv2.Rodrigues(cam_T_world[:3, :3])
    expected, _ = cv2.projectPoints(points_world, rvec, cam_T_world[:3, 3], K, None)
    uv, z = project(points_world, K, cam_T_world)
    np.testing.assert_allclose(uv, expected[:, 0], atol=1e-8)
    np.testing.assert_allclose(z, points_cam[:, 2], atol=1e-12)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("stride", [1, 3])
def test_depth_to_points_matches_open3d(seed, stride):
    H, W = 30, 40
    K, world_T_cam = random_camera(seed, H, W)
    depth = random_depth(seed, H, W)
    intrinsic = o3d.camera.PinholeCameraIntrinsic(W, H, K[0, 0], K[1, 1], K[0, 2], K[1, 2])
    cloud = o3d.geometry.PointCloud.create_from_depth_image(
        o3d.geometry.Image(depth), intrinsic, extrinsic=np.linalg.inv(world_T_cam),
        depth_scale=1.0, depth_trunc=1e6, stride=stride)
    points = depth_to_points(depth, K, world_T_cam, stride=stride)
    assert points.dtype == np.float64
    np.testing.assert_allclose(points, np.asarray(cloud.points), atol=1e-5)


def test_depth_to_points_camera_frame_counts_valid_pixels():
    K, _ = random_camera(0)
    depth = random_depth(0)
    points = depth_to_points(depth, K)
    assert points.shape == (int((depth > 0).sum()), 3)
    np.testing.assert_allclose(points[:, 2], depth[depth > 0])


@pytest.mark.parametrize("seed", range(3))
def test_backproject_project_round_trip(seed):
    K, world_T_cam = random_camera(seed)
    K[0, 1] = 1.5  # skew must survive the round trip too
    depth = random_depth(seed)
    points = backproject(depth, K)
    assert points.shape == (30, 40, 3)
    np.testing.assert_array_equal(points[depth == 0], 0.0)
    valid = depth > 0
    world = points[valid] @ world_T_cam[:3, :3].T + world_T_cam[:3, 3]
    uv, z = project(world, K, np.linalg.inv(world_T_cam))
    np.testing.assert_allclose(uv, pixel_grid(30, 40)[valid], atol=1e-9)
    np.testing.assert_allclose(z, depth[valid], rtol=1e-6)


def test_depth_disparity_round_trip_keeps_invalid_zero():
    depth = np.array([[0.0, 1.0], [2.5, 10.0]], dtype=np.float32)
    disparity = depth_to_disparity(depth, fx=500.0, baseline=0.1)
    assert disparity.dtype == np.float32
    np.testing.assert_allclose(disparity, [[0, 50], [20, 5]])
    np.testing.assert_allclose(disparity_to_depth(disparity, 500.0, 0.1), depth, rtol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda: depth_to_disparity(np.array([1.0, np.nan]), 500, 0.1), "NaN or inf"),
    (lambda: disparity_to_depth(np.array([1.0, np.inf]), 500, 0.1), "NaN or inf"),
    (lambda: depth_to_disparity(np.array([1.0, -2.0]), 500, 0.1), ">= 0"),
    (lambda: depth_to_disparity(np.ones(3), 0.0, 0.1), "fx"),
    (lambda: disparity_to_depth(np.ones(3), 500, -0.1), "baseline"),
    (lambda: backproject(np.ones((4, 4, 1)), make_K(10, 10, 2, 2)), "shape"),
    (lambda: backproject(np.full((4, 4), np.nan), make_K(10, 10, 2, 2)), "NaN or inf"),
    (lambda: project(np.ones((5, 2)), make_K(10, 10, 2, 2)), r"shape \(N, 3\)"),
    (lambda: project(np.ones((5, 3)), make_K(10, 10, 2, 2), np.eye(4) * 2), "cam_T_world"),
    (lambda: depth_to_points(np.ones((4, 4)), make_K(10, 10, 2, 2), stride=0), "stride"),
])
def test_projection_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
