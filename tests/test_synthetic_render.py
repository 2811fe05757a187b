"""Renderer: depth against analytic geometry, ray convention, normals, instances, shading,
shadows, camera model, bad parameters."""
import numpy as np
import open3d as o3d
import pytest

from edgegeo.data.synthetic import CameraModel, PointLight, Scene, camera_rays, generate_scene, sample_view
from edgegeo.data.synthetic.materials import plain_material
from edgegeo.data.synthetic.primitives import box, translation
from edgegeo.data.synthetic.props import Piece
from edgegeo.geometry import K_from_fov, look_at, make_K
from edgegeo.geometry.projection import backproject

W, H = 96, 72
HALF = 2.0  # the test room is the cube [-2, 2]^3


def cube_room(extra=()):
    """A scene inside the cube [-HALF, HALF]^3 (faces seen from inside), one light."""
    inside = box((2 * HALF,) * 3).flipped()
    elements = [("room", [Piece(inside, translation((-HALF,) * 3), plain_material("grey", (0.6, 0.6, 0.6)))])]
    elements += list(extra)
    light = PointLight(np.array([0.0, 0.0, HALF - 0.3]), np.ones(3), 4.0)
    return Scene(elements, [light], ambient=(0.05, 0.05, 0.05), bounds=[(-HALF,) * 3, (HALF,) * 3])


@pytest.fixture(scope="module")
def room():
    return cube_room()


@pytest.fixture(scope="module")
def generated():
    return generate_scene(4)


def tilted_pose():
    return look_at((0.3, -0.5, 0.2), (1.5, 1.0, -0.8))


def analytic_cube_depth(K, world_T_cam):
    """Depth along the optical axis of the first cube face each pixel ray meets."""
    v, u = np.mgrid[0:H, 0:W]
    rays = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3) @ np.linalg.inv(K).T
    directions = rays @ world_T_cam[:3, :3].T
    origin = world_T_cam[:3, 3]
    with np.errstate(divide="ignore"):
        t = (np.sign(directions) * HALF - origin) / directions
    t[~np.isfinite(t)] = np.inf
    axis = t.argmin(axis=1)
    return t.min(axis=1).reshape(H, W), axis.reshape(H, W), np.sign(directions[np.arange(len(axis)), axis]).reshape(H, W)


def test_depth_is_z_depth_of_analytic_planes(room):
    K = K_from_fov(W, H, 75.0)
    pose = tilted_pose()
    frame = room.render(K, pose, W, H)
    expected, axis, sign = analytic_cube_depth(K, pose)
    assert frame.depth.dtype == np.float32
    np.testing.assert_allclose(frame.depth, expected, rtol=1e-5, atol=1e-5)
    # Normals: the hit face's inward normal, expressed in the camera frame.
    world_normals = np.zeros((H, W, 3))
    np.put_along_axis(world_normals, axis[..., None], -sign[..., None], axis=2)
    np.testing.assert_allclose(frame.normals, world_normals @ pose[:3, :3], atol=1e-5)


def test_rays_follow_pixel_centre_convention():
    """Our rays K⁻¹[u, v, 1] equal Open3D's create_rays_pinhole (pixel centres at u + 0.5) once
    the principal point is shifted by half a pixel; directions have camera z = 1."""
    K = make_K(80.0, 82.0, 40.0, 30.0)
    pose = tilted_pose()
    ours = camera_rays(K, pose, W, H)
    shifted = K.copy()
    shifted[:2, 2] += 0.5
    theirs = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
        o3d.core.Tensor(shifted), o3d.core.Tensor(np.linalg.inv(pose)), W, H).numpy().reshape(-1, 6)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_allclose((ours[:, 3:] @ pose[:3, :3])[:, 2], 1.0, atol=1e-6)


def test_frame_types_normals_unit_and_facing_camera(generated):
    K = K_from_fov(W, H, 70.0)
    pose = sample_view(generated, np.random.default_rng(0), K, W, H)
    frame = generated.render(K, pose, W, H)
    assert frame.rgb.shape == (H, W, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == (H, W) and frame.depth.dtype == np.float32
    assert frame.normals.shape == (H, W, 3) and frame.normals.dtype == np.float32
    assert frame.instance.shape == (H, W) and frame.instance.dtype == np.int32
    assert frame.K.dtype == np.float64 and frame.world_T_cam.dtype == np.float64
    assert np.all(frame.depth > 0), "rooms are closed: every ray hits"
    assert np.all(frame.instance > 0)
    np.testing.assert_allclose(np.linalg.norm(frame.normals, axis=2), 1.0, atol=1e-5)
    v, u = np.mgrid[0:H, 0:W]
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T
    assert np.all((frame.normals * rays).sum(axis=2) < 1e-6)


def test_render_is_deterministic_and_noise_follows_rng(generated):
    K = K_from_fov(W, H, 70.0)
    pose = sample_view(generated, np.random.default_rng(1), K, W, H)
    first, second = generated.render(K, pose, W, H), generated.render(K, pose, W, H)
    assert np.array_equal(first.rgb, second.rgb)
    other = generated.render(K, pose, W, H, rng=np.random.default_rng(5))
    assert not np.array_equal(first.rgb, other.rgb)
    clean = [generated.render(K, pose, W, H, rng=np.random.default_rng(s), camera=CameraModel.clean()) for s in (1, 2)]
    assert np.array_equal(clean[0].rgb, clean[1].rgb)


def test_exposure_is_not_blown_out(generated):
    K = K_from_fov(W, H, 70.0)
    rng = np.random.default_rng(2)
    for _ in range(3):
        frame = generated.render(K, sample_view(generated, rng, K, W, H), W, H)
        gray = frame.rgb.mean(axis=2)
        assert 60 < np.median(gray) < 190
        assert np.mean(gray >= 254) < 0.3


def test_cast_shadow_darkens_floor():
    blocker = Piece(box((0.6, 0.6, 0.6)), translation((-0.3, -0.3, -0.5)), plain_material("block", (0.5, 0.5, 0.5)))
    scene = cube_room([("block", [blocker])])
    K = K_from_fov(W, H, 90.0)
    pose = look_at((0.0, -1.2, 1.0), (0.0, 0.0, -HALF))
    buffers = scene.render_buffers(K, pose, W, H)
    world = backproject(buffers.depth, K) @ pose[:3, :3].T + pose[:3, 3]
    floor = (buffers.instance == 1) & ((buffers.normals @ pose[:3, :3].T)[..., 2] > 0.999)
    radius = np.hypot(world[..., 0], world[..., 1])
    # The light is straight above the block: floor right under it is in shadow, floor further
    # out is lit.
    shadowed = floor & (radius < 0.35)
    lit = floor & (radius > 0.9) & (radius < 1.3)
    assert shadowed.sum() > 10 and lit.sum() > 10
    luminance = buffers.radiance.mean(axis=2)
    assert luminance[shadowed].mean() < 0.3 * luminance[lit].mean()


@pytest.mark.parametrize("K", [np.zeros((3, 3)), make_K(1, 1, 0, 0) * [[0, 1, 1], [1, 1, 1], [1, 1, 1]],
                               np.eye(2), np.full((3, 3), np.nan)])
def test_degenerate_intrinsics_raise(room, K):
    with pytest.raises(ValueError):
        room.render(K, np.eye(4), W, H)


def test_bad_pose_and_size_raise(room):
    K = K_from_fov(W, H, 70.0)
    not_rigid = np.eye(4)
    not_rigid[0, 0] = 2.0
    with pytest.raises(ValueError):
        room.render(K, not_rigid, W, H)
    for width, height in ((0, H), (W, -1), (1.5, H)):
        with pytest.raises(ValueError):
            room.render(K, np.eye(4), width, height)
    with pytest.raises(ValueError):
        CameraModel(gamma=0.0)
