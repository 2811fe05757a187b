"""edgegeo.geometry.warp against cv2.warpPerspective and the numpy projection module."""
import cv2
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from edgegeo.geometry import (backproject, backproject_torch, make_K, pixel_to_grid, project,
                              warp_by_depth)
from edgegeo.geometry.warp import invert_K

H, W = 24, 32


def smooth_image(seed, H_img, W_img, channels=1):
    """Smooth random pattern (sums of low-frequency sinusoids), float32 (C, H, W)."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:H_img, 0:W_img].astype(np.float64)
    image = np.zeros((channels, H_img, W_img))
    for c in range(channels):
        for _ in range(4):
            fu, fv, phase = rng.uniform(0.05, 0.25), rng.uniform(0.05, 0.25), rng.uniform(0, 6)
            image[c] += np.sin(fu * u + fv * v + phase)
    return image.astype(np.float32)


def small_motion(seed):
    """src_T_ref with a few degrees of rotation and ~10 cm of translation (numpy float64)."""
    rng = np.random.default_rng(seed)
    src_T_ref = np.eye(4)
    src_T_ref[:3, :3] = Rotation.from_rotvec(rng.uniform(-0.05, 0.05, 3)).as_matrix()
    src_T_ref[:3, 3] = rng.uniform(-0.1, 0.1, 3)
    return src_T_ref


def batch(array, dtype=torch.float32):
    return torch.as_tensor(np.asarray(array)[None], dtype=dtype)


def test_backproject_torch_matches_numpy():
    rng = np.random.default_rng(0)
    K = make_K(30, 31, 15.2, 11.7)
    K[0, 1] = 0.8
    depth = rng.uniform(0, 4, (H, W))
    depth[depth < 0.5] = 0
    points = backproject_torch(batch(depth[None], torch.float64), batch(K, torch.float64))
    np.testing.assert_allclose(points[0].permute(1, 2, 0).numpy(), backproject(depth, K),
                               atol=1e-12)


def random_K(generator, batch, dtype):
    """(B, 3, 3) valid pinhole intrinsics: focal lengths 20–2000 px (fx ≠ fy), skew up to
    ±2 px, principal point anywhere in a 4000×3000 image (not only near the centre)."""
    def uniform(low, high):
        return low + (high - low) * torch.rand(batch, dtype=dtype, generator=generator)

    K = torch.zeros(batch, 3, 3, dtype=dtype)
    K[:, 0, 0], K[:, 1, 1] = uniform(20, 2000), uniform(20, 2000)
    K[:, 0, 1] = uniform(-2, 2)
    K[:, 0, 2], K[:, 1, 2] = uniform(0, 4000), uniform(0, 3000)
    K[:, 2, 2] = 1
    return K


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_invert_K_matches_linalg_inv(dtype, rtol):
    K = random_K(torch.Generator().manual_seed(0), 256, dtype)
    K_inv = invert_K(K)
    assert K_inv.shape == (256, 3, 3) and K_inv.dtype == dtype
    # Compare per entry relative to the size of that entry across the batch (the inverse's
    # entries range from ~1e-3 to ~1e2).
    expected = torch.linalg.inv(K.double())
    scale = expected.abs().amax(0, keepdim=True).clamp_min(1.0)
    assert float(((K_inv.double() - expected).abs() / scale).max()) < rtol
    identity = torch.eye(3, dtype=torch.float64).expand(256, 3, 3)
    torch.testing.assert_close((K.double() @ K_inv.double()), identity, atol=50 * rtol, rtol=0)


def test_invert_K_is_exact_on_the_zero_and_one_entries():
    K_inv = invert_K(random_K(torch.Generator().manual_seed(1), 8, torch.float32))
    assert bool((K_inv[:, 1, 0] == 0).all()) and bool((K_inv[:, 2, :2] == 0).all())
    assert bool((K_inv[:, 2, 2] == 1).all())


def test_invert_K_gradient_matches_linalg_inv():
    K = random_K(torch.Generator().manual_seed(2), 4, torch.float64).requires_grad_()
    weights = torch.randn(4, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    (invert_K(K) * weights).sum().backward()
    ours = K.grad.clone()
    K.grad = None
    (torch.linalg.inv(K) * weights).sum().backward()
    # Only the free entries (fx, s, cx, fy, cy) carry gradient in the closed form.
    free = torch.zeros(3, 3, dtype=torch.bool)
    free[0, :] = free[1, 1:] = True
    torch.testing.assert_close(ours[:, free], K.grad[:, free], rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("change, message", [
    (lambda K: K.__setitem__((0, 1, 0), 0.5), r"K\[:, 1, 0\] must be 0"),
    (lambda K: K.__setitem__((0, 0, 0), 0.0), "focal"),
    (lambda K: K.__setitem__((0, 2, 0), 0.1), "bottom row"),
    (lambda K: K.__setitem__((0, 1, 2), float("nan")), "NaN or inf"),
])
def test_invert_K_rejects_non_pinhole_or_invalid(change, message):
    K = batch(make_K(30, 31, 15.2, 11.7))
    change(K)
    with pytest.raises(ValueError, match=message):
        invert_K(K)


def test_pixel_to_grid_corners_for_align_corners_true():
    uv = torch.tensor([[0.0, 0.0], [W - 1.0, H - 1.0], [(W - 1) / 2, (H - 1) / 2]])
    np.testing.assert_allclose(pixel_to_grid(uv, H, W).numpy(), [[-1, -1], [1, 1], [0, 0]],
                               atol=1e-6)


def test_same_camera_warp_is_identity():
    image = torch.from_numpy(smooth_image(0, H, W, channels=3))[None]
    K = batch(make_K(30, 30, (W - 1) / 2, (H - 1) / 2))
    depth = torch.rand(1, 1, H, W, generator=torch.Generator().manual_seed(0)) * 3 + 0.5
    warped, valid = warp_by_depth(image, depth, K, K, torch.eye(4)[None])
    assert valid.dtype == torch.bool and valid.shape == (1, 1, H, W)
    assert bool(valid.all())
    # float32 round trip K K⁻¹ moves samples by ~1e-6 px; image values are O(1).
    torch.testing.assert_close(warped, image, atol=1e-4, rtol=0)


def test_zero_depth_is_invalid_and_warps_to_zero():
    image = torch.ones(1, 1, H, W)
    K = batch(make_K(30, 30, (W - 1) / 2, (H - 1) / 2))
    depth = torch.ones(1, 1, H, W)
    depth[..., :5, :] = 0
    warped, valid = warp_by_depth(image, depth, K, K, torch.eye(4)[None])
    assert not bool(valid[..., :5, :].any()) and bool(valid[..., 5:, :].all())
    assert float(warped[..., :5, :].abs().max()) == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_constant_depth_warp_matches_plane_homography(seed):
    H_src, W_src = 28, 36
    K_ref = make_K(28, 29, (W - 1) / 2 + 0.3, (H - 1) / 2 - 0.4)
    K_src = make_K(33, 32, (W_src - 1) / 2 - 0.6, (H_src - 1) / 2 + 0.2)
    src_T_ref = small_motion(seed)
    plane_depth = 1.7
    # Plane n·X = d in the reference frame (n = +z): X_src = R X + t = (R + t nᵀ/d) X, i.e.
    # H = K_src (R − t n'ᵀ/d) K_ref⁻¹ with the plane written n'·X + d = 0 (n' = −z).
    normal = np.array([0.0, 0.0, 1.0])
    homography = K_src @ (src_T_ref[:3, :3] + np.outer(src_T_ref[:3, 3], normal) / plane_depth) \
        @ np.linalg.inv(K_ref)
    source = smooth_image(seed, H_src, W_src)
    expected = cv2.warpPerspective(source[0], homography, (W, H),
                                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    warped, valid = warp_by_depth(torch.from_numpy(source)[None],
                                  torch.full((1, 1, H, W), plane_depth), batch(K_ref),
                                  batch(K_src), batch(src_T_ref))
    mask = valid[0, 0].numpy()
    assert mask.mean() > 0.5
    # cv2 uses 1/32-pixel fixed-point interpolation weights: allow that quantisation.
    np.testing.assert_allclose(warped[0, 0].numpy()[mask], expected[mask], atol=0.03)
    np.testing.assert_array_equal(warped[0, 0].numpy()[~mask], 0.0)


def test_valid_mask_matches_numpy_projection():
    K_ref = make_K(28, 28, (W - 1) / 2, (H - 1) / 2)
    K_src = make_K(30, 30, 10.0, 8.0)
    src_T_ref = small_motion(5)
    src_T_ref[:3, 3] += [0.4, 0.0, -0.5]
    depth = np.random.default_rng(1).uniform(0.3, 3.0, (H, W))
    _, valid = warp_by_depth(torch.zeros(1, 1, 20, 25), batch(depth[None], torch.float64),
                             batch(K_ref), batch(K_src), batch(src_T_ref))
    points = backproject(depth, K_ref).reshape(-1, 3)
    uv, z = project(points, K_src, src_T_ref)
    expected = (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] <= 24) & (uv[:, 1] >= 0) & (uv[:, 1] <= 19)
    assert 0.1 < expected.mean() < 0.9  # the test exercises both sides
    np.testing.assert_array_equal(valid[0, 0].numpy().reshape(-1), expected)


def test_behind_camera_points_are_invalid():
    K = batch(make_K(20, 20, 7.5, 5.5))
    src_T_ref = torch.eye(4)[None].clone()
    src_T_ref[0, 2, 3] = -5.0  # source 5 m in front of the ref: depth-1 points are behind it
    warped, valid = warp_by_depth(torch.ones(1, 1, 12, 16), torch.ones(1, 1, 12, 16), K, K,
                                  src_T_ref)
    assert not bool(valid.any()) and float(warped.abs().max()) == 0.0


def test_warp_gradcheck_float64():
    generator = torch.Generator().manual_seed(0)
    K_ref = batch(make_K(6, 6, 2.0, 1.5), torch.float64)
    K_src = batch(make_K(6.5, 6.2, 2.4, 2.1), torch.float64).requires_grad_()
    src_T_ref = batch(small_motion(2), torch.float64)
    image = torch.rand(1, 2, 5, 6, dtype=torch.float64, generator=generator,
                       requires_grad=True)
    depth = (torch.rand(1, 1, 4, 5, dtype=torch.float64, generator=generator) + 2.0)
    depth.requires_grad_()

    _, valid = warp_by_depth(image, depth, K_ref, K_src, src_T_ref)
    assert float(valid.float().mean()) > 0.5  # most outputs depend on all three inputs

    def warped_only(image, depth, K_src):
        return warp_by_depth(image, depth, K_ref, K_src, src_T_ref)[0]

    assert torch.autograd.gradcheck(warped_only, (image, depth, K_src), eps=1e-6, atol=1e-5)


def test_gradient_reaches_pose_translation():
    K = batch(make_K(20, 20, 7.5, 5.5))
    translation = torch.tensor([0.05, -0.02, 0.01], requires_grad=True)
    src_T_ref = torch.eye(4).clone()
    src_T_ref[:3, 3] = translation
    image = torch.from_numpy(smooth_image(3, 12, 16))[None]
    warped, _ = warp_by_depth(image, torch.full((1, 1, 12, 16), 2.0), K, K, src_T_ref[None])
    warped.sum().backward()
    assert torch.isfinite(translation.grad).all() and translation.grad.abs().sum() > 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(ref_depth=torch.full((1, 1, 4, 5), float("nan"))), "NaN or inf"),
    (dict(ref_depth=-torch.ones(1, 1, 4, 5)), ">= 0"),
    (dict(ref_depth=torch.ones(1, 4, 5)), r"ref_depth must have shape"),
    (dict(K_ref=torch.zeros(1, 3, 3)), "focal"),
    (dict(K_src=torch.eye(3)), r"K_src must have shape \(1, 3, 3\)"),
    (dict(src_T_ref=torch.diag(torch.tensor([1.1, 1.0, 1.0, 1.0]))[None]), "orthonormal"),
    (dict(src_T_ref=torch.diag(torch.tensor([1.0, 1.0, 1.0, 2.0]))[None]), "last row"),
    (dict(src_T_ref=torch.diag(torch.tensor([1.0, 1.0, -1.0, 1.0]))[None]), "det"),
    (dict(src_image=np.zeros((1, 1, 4, 5))), "torch.Tensor"),
])
def test_warp_rejects_bad_input(kwargs, message):
    K = batch(make_K(5, 5, 2, 1.5))
    arguments = dict(src_image=torch.zeros(1, 1, 4, 5), ref_depth=torch.ones(1, 1, 4, 5),
                     K_ref=K, K_src=K, src_T_ref=torch.eye(4)[None])
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        warp_by_depth(**arguments)


def test_sample_bilinear_exports_as_gathers_with_grid_sample_values(tmp_path):
    """The ONNX graph samples with Gather, not GridSample, and ONNX Runtime gives what
    F.grid_sample gives, off-map corners and points included."""
    import onnx
    import onnxruntime as ort
    import torch.nn.functional as F

    from edgegeo.geometry.warp import sample_bilinear

    class Sample(torch.nn.Module):
        def forward(self, features, grid):
            return sample_bilinear(features, grid)

    torch.manual_seed(0)
    features = torch.randn(3, 5, 7, 9)
    grid = torch.rand(3, 4, 6, 2) * 2.6 - 1.3               # some samples fall off the map
    grid[0, 0, :3] = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0]])   # exact corners
    expected = F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros",
                             align_corners=True)
    assert torch.equal(Sample()(features, grid), expected)                 # eager: torch's
    path = tmp_path / "sample.onnx"
    torch.onnx.export(Sample(), (features, grid), str(path), input_names=["f", "g"],
                      opset_version=17, dynamo=False)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "Gather" in ops and "GridSample" not in ops
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"f": features.numpy(), "g": grid.numpy()})[0]
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)


def test_sample_bilinear_dot_is_the_query_dot_of_grid_sample_and_its_coverage():
    """Dot products with bilinear samples (zeros padding) and the sampled ones map, for
    positions inside, on the border band, far off the map and on exact pixel centres."""
    import torch.nn.functional as F

    from edgegeo.geometry.warp import pixel_to_grid, sample_bilinear_dot

    torch.manual_seed(0)
    B, S, C, Hs, Ws, P, K = 2, 3, 5, 7, 9, 11, 4
    features = torch.randn(B, S, C, Hs, Ws)
    x = torch.rand(B, P, S, K) * (Ws + 5) - 3.0
    y = torch.rand(B, P, S, K) * (Hs + 5) - 3.0
    x[0, 0, 0, :3] = torch.tensor([0.0, Ws - 1.0, -1e9])
    y[0, 0, 0, :3] = torch.tensor([0.0, Hs - 1.0, 2.0])
    query = torch.randn(B, P, C)
    dot, coverage = sample_bilinear_dot(features, x, y, query)

    grid = pixel_to_grid(torch.stack([x, y], -1), Hs, Ws)                # (B, P, S, K, 2)
    grid = grid.permute(0, 2, 1, 3, 4).reshape(B * S, P, K, 2)
    maps = torch.cat([features, torch.ones(B, S, 1, Hs, Ws)], 2).reshape(B * S, C + 1, Hs, Ws)
    sampled = F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=True).reshape(B, S, C + 1, P, K)
    expected_dot = (sampled[:, :, :C] * query.permute(0, 2, 1).reshape(B, 1, C, P, 1)).sum(2)
    np.testing.assert_allclose(dot, expected_dot.permute(0, 2, 1, 3), atol=1e-5)
    np.testing.assert_allclose(coverage, sampled[:, :, C].permute(0, 2, 1, 3), atol=1e-6)
    assert float(coverage[0, 0, 0, 0]) == 1.0 and float(coverage[0, 0, 0, 2]) == 0.0
