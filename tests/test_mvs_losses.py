"""SimpleRecon's losses: zero for perfect predictions, exact values on known planes, the
multi-view loss against an independent projection and against warping."""
import math

import numpy as np
import pytest
import torch

from edgegeo.geometry import warp_by_depth
from edgegeo.geometry.projection import project
from edgegeo.models.mvs.losses import (LOSS_WEIGHTS, depth_normals, gradient_loss,
                                       multiscale_log_l1, multiview_depth_loss, normal_loss,
                                       simplerecon_loss)

H, W = 32, 48
K = np.array([[40.0, 0, 23.5], [0, 40.0, 15.5], [0, 0, 1]])
NEAR, FAR = 0.25, 8.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rays() -> np.ndarray:
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    return np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T        # (H, W, 3)


def plane_depth(normal, offset, K_=K, pose=None) -> np.ndarray:
    """Depth of the plane ``n · X = −offset`` (``n`` facing the camera) seen by a camera with
    intrinsics ``K_`` at ``pose`` (= cam_T_ref; identity = the reference camera)."""
    normal = np.asarray(normal, float) / np.linalg.norm(normal)
    if pose is not None:                       # plane in that camera's frame
        ref_T_cam = np.linalg.inv(pose)
        offset = offset + normal @ ref_T_cam[:3, 3]
        normal = ref_T_cam[:3, :3].T @ normal
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K_).T
    return -offset / (rays @ normal)


def t(array) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array), dtype=torch.float64)


def depth_map(array) -> torch.Tensor:
    return t(array).view(1, 1, H, W)


def _pose(degrees_about_y, translation) -> np.ndarray:
    a = math.radians(degrees_about_y)
    pose = np.eye(4)
    pose[:3, :3] = [[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]]
    pose[:3, 3] = translation
    return pose


def test_all_losses_vanish_for_a_perfect_prediction():
    """Fronto-parallel wall at 2 m, sources translated only: every loss is exactly 0."""
    gt = torch.full((1, 1, H, W), 2.0, dtype=torch.float64)
    poses = np.stack([_pose(0, [0.1, 0, 0]), _pose(0, [0, -0.05, 0.3])])
    src_depth = torch.stack([torch.full((1, H, W), 2.0 - p[2, 3], dtype=torch.float64)
                             for p in poses])[None]
    batch = {"depth": gt, "src_depth": src_depth, "K": t(K)[None],
             "src_K": t(np.stack([K, K]))[None], "src_T_ref": t(poses)[None]}
    scales = [gt, gt[..., ::2, ::2], gt[..., ::4, ::4], gt[..., ::8, ::8]]
    outputs = {"depth": scales, "log_depth": [x.log() for x in scales]}
    total, parts = simplerecon_loss(outputs, batch, NEAR, FAR)
    assert set(parts) == set(LOSS_WEIGHTS) == {"ms_log_l1", "gradient", "normal", "multiview"}
    for name, value in parts.items():
        assert value.item() == pytest.approx(0.0, abs=1e-12), name
    assert total.item() == pytest.approx(0.0, abs=1e-12)


def test_weights_are_one_one_one_and_a_fifth():
    assert LOSS_WEIGHTS == {"ms_log_l1": 1.0, "gradient": 1.0, "normal": 1.0, "multiview": 0.2}
    gt = depth_map(plane_depth([0.3, -0.2, -1], 2.0))
    pred = depth_map(plane_depth([0, 0, -1], 1.5))
    pose = _pose(3, [0.1, 0, 0.1])
    src = depth_map(plane_depth([0.3, -0.2, -1], 2.0, K, pose))
    batch = {"depth": gt, "src_depth": src[None], "K": t(K)[None], "src_K": t(K)[None, None],
             "src_T_ref": t(pose)[None, None]}
    scales = [pred, pred[..., ::2, ::2], pred[..., ::4, ::4], pred[..., ::8, ::8]]
    total, parts = simplerecon_loss({"depth": scales, "log_depth": [x.log() for x in scales]},
                                    batch, NEAR, FAR)
    expected = parts["ms_log_l1"] + parts["gradient"] + parts["normal"] + 0.2 * parts["multiview"]
    assert total.item() == pytest.approx(expected.item(), rel=1e-12)
    assert all(v.item() > 0 for v in parts.values())


def test_multiscale_log_l1_upsamples_nearest_and_halves_per_scale():
    rng = np.random.default_rng(0)
    blocks = rng.uniform(0.5, 6.0, (H // 8, W // 8))
    gt = depth_map(np.kron(blocks, np.ones((8, 8))))          # constant on 8×8 blocks
    valid = gt > 0
    scales = [gt[..., ::s, ::s] for s in (1, 2, 4, 8)]
    assert multiscale_log_l1([x.log() for x in scales], gt, valid, NEAR, FAR).item() == \
        pytest.approx(0.0, abs=1e-12)
    shifted = [x.log() + 0.1 for x in scales]
    assert multiscale_log_l1(shifted, gt, valid, NEAR, FAR).item() == pytest.approx(
        0.1 * (1 + 1 / 2 + 1 / 4 + 1 / 8))
    # GT beyond the far plane counts as the far plane; invalid GT is left out.
    far = gt.clone()
    far[..., :8, :8] = 20.0
    far[..., 8:16, :8] = 0.0
    valid = far > 0
    logs = [torch.log(far.clamp(NEAR, FAR))[..., ::s, ::s] for s in (1, 2, 4, 8)]
    assert multiscale_log_l1(logs, far, valid, NEAR, FAR).item() == pytest.approx(0, abs=1e-12)


def test_normals_of_known_planes():
    for normal in ([0, 0, -1], [0.3, -0.2, -1], [-0.5, 0.4, -0.8]):
        depth = depth_map(plane_depth(normal, 2.0))
        normals, valid = depth_normals(depth, t(K)[None])
        want = np.asarray(normal, float) / np.linalg.norm(normal)
        assert valid[0, 0, :-1, :-1].all() and not valid[0, 0, -1].any() \
            and not valid[0, 0, :, -1].any()
        got = normals[0].permute(1, 2, 0)[valid[0, 0]].numpy()
        np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), atol=1e-9)


def test_normal_loss_on_known_planes():
    tilted = np.array([0.3, -0.2, -1.0])
    gt = depth_map(plane_depth(tilted, 2.0))
    valid = gt > 0
    assert normal_loss(gt, gt, t(K)[None], valid).item() == pytest.approx(0.0, abs=1e-12)
    fronto = depth_map(plane_depth([0, 0, -1], 1.2))
    cosine = -tilted[2] / np.linalg.norm(tilted)
    assert normal_loss(fronto, gt, t(K)[None], valid).item() == pytest.approx(
        0.5 * (1 - cosine), rel=1e-9)
    # Pixels without GT do not count (nor do their neighbours' normals).
    holes = valid.clone()
    holes[..., 10:20, 10:20] = False
    assert normal_loss(fronto, gt, t(K)[None], holes).item() == pytest.approx(
        0.5 * (1 - cosine), rel=1e-9)


def test_gradient_loss_on_known_planes():
    gt_np = plane_depth([0.3, -0.2, -1.0], 2.0)
    gt = depth_map(gt_np)
    valid = gt > 0
    assert gradient_loss(gt + 0.5, gt, valid).item() == pytest.approx(0.0, abs=1e-12)
    fronto = torch.full_like(gt, 1.7)
    expected = (np.abs(np.diff(gt_np, axis=1)).sum() + np.abs(np.diff(gt_np, axis=0)).sum()) / (
        H * (W - 1) + (H - 1) * W)
    assert gradient_loss(fronto, gt, valid).item() == pytest.approx(expected, rel=1e-12)


@pytest.fixture
def two_view_plane():
    """A tilted wall seen by the reference and by a rotated, translated source (GT by ray
    casting the same plane)."""
    normal, offset = np.array([0.2, -0.1, -1.0]), 2.5
    src_T_ref = _pose(4, [-0.2, 0.03, 0.1])
    K_src = K * [[1.05], [1.05], [1]]
    gt = plane_depth(normal, offset)
    src = plane_depth(normal, offset, K_src, src_T_ref)
    return gt, src, K_src, src_T_ref


def _expected_multiview(gt, src, K_src, src_T_ref, scale):
    """Independent: project GT points with numpy, nearest source pixel, visibility, error of the
    scaled prediction."""
    points = (gt[..., None] * _rays()).reshape(-1, 3)
    uv, z_gt = project(points, K_src, cam_T_world=src_T_ref)
    _, z_pred = project(points * scale, K_src, cam_T_world=src_T_ref)
    cols, rows = np.rint(uv[:, 0]).astype(int), np.rint(uv[:, 1]).astype(int)
    inside = (uv[:, 0] >= -1e-3) & (uv[:, 0] <= W - 1 + 1e-3) & (uv[:, 1] >= -1e-3) \
        & (uv[:, 1] <= H - 1 + 1e-3) & (z_gt > 0)
    z_src = np.zeros(len(points))
    z_src[inside] = src[rows[inside], cols[inside]]
    visible = inside & (z_src > 0) & (z_gt < 1.05 * z_src)
    return np.abs(np.log(z_src[visible]) - np.log(z_pred[visible])).mean(), visible


def test_multiview_loss_matches_an_independent_projection(two_view_plane):
    gt, src, K_src, src_T_ref = two_view_plane
    args = (depth_map(src)[None], t(K)[None], t(K_src)[None, None], t(src_T_ref)[None, None])
    for scale in (1.0, 1.1, 0.8):
        want, visible = _expected_multiview(gt, src, K_src, src_T_ref, scale)
        assert 0.5 < visible.mean() < 1.0          # partly outside the source, mostly inside
        got = multiview_depth_loss(depth_map(gt * scale), depth_map(gt), *args,
                                   depth_map(gt) > 0)
        assert got.item() == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_multiview_loss_is_consistent_with_warping(two_view_plane):
    """The source GT depth warped into the reference by the GT depth (bilinear) gives nearly the
    same loss as the loss's own nearest-pixel sampling."""
    gt, src, K_src, src_T_ref = two_view_plane
    warped, valid = warp_by_depth(depth_map(src), depth_map(gt), t(K)[None], t(K_src)[None],
                                  t(src_T_ref)[None])
    scale = 1.1
    points = (gt[..., None] * _rays()).reshape(-1, 3) * scale
    _, z_pred = project(points, K_src, cam_T_world=src_T_ref)
    keep = valid[0, 0].numpy().reshape(-1)
    via_warp = np.abs(np.log(warped[0, 0].numpy().reshape(-1)[keep]) - np.log(z_pred[keep]))
    got = multiview_depth_loss(depth_map(gt * scale), depth_map(gt), depth_map(src)[None],
                               t(K)[None], t(K_src)[None, None], t(src_T_ref)[None, None],
                               depth_map(gt) > 0)
    assert got.item() == pytest.approx(via_warp.mean(), rel=1e-2)
    perfect = multiview_depth_loss(depth_map(gt), depth_map(gt), depth_map(src)[None],
                                   t(K)[None], t(K_src)[None, None], t(src_T_ref)[None, None],
                                   depth_map(gt) > 0)
    assert perfect.item() < 2e-3                      # only nearest-pixel sampling error


def test_multiview_loss_ignores_occluded_points_and_padding_sources(two_view_plane):
    gt, src, K_src, src_T_ref = two_view_plane
    occluded = src.copy()
    occluded[8:20, 10:30] *= 0.5                      # something in front, seen by the source
    args = (t(K)[None], t(K_src)[None, None], t(src_T_ref)[None, None], depth_map(gt) > 0)
    clean = multiview_depth_loss(depth_map(gt), depth_map(gt), depth_map(src)[None], *args)
    blocked = multiview_depth_loss(depth_map(gt), depth_map(gt), depth_map(occluded)[None], *args)
    assert blocked.item() == pytest.approx(clean.item(), abs=2e-3)
    # A padding source contributes nothing: with only padding, the loss is 0.
    wrong = depth_map(src)[None] * 3.0
    two = torch.cat([depth_map(src)[None], wrong], dim=1)
    args2 = (t(K)[None], t(np.stack([K_src, K_src]))[None],
             t(np.stack([src_T_ref, src_T_ref]))[None], depth_map(gt) > 0)
    only_first = multiview_depth_loss(depth_map(gt * 1.1), depth_map(gt), two, *args2,
                                      torch.tensor([[True, False]]))
    single = multiview_depth_loss(depth_map(gt * 1.1), depth_map(gt), depth_map(src)[None],
                                  *args[:3], depth_map(gt) > 0)
    assert only_first.item() == pytest.approx(single.item(), rel=1e-12)


def test_losses_are_differentiable_in_the_prediction(two_view_plane):
    gt, src, K_src, src_T_ref = two_view_plane
    pred = depth_map(gt * 1.2).requires_grad_(True)
    scales = [pred, pred[..., ::2, ::2], pred[..., ::4, ::4], pred[..., ::8, ::8]]
    batch = {"depth": depth_map(gt), "src_depth": depth_map(src)[None], "K": t(K)[None],
             "src_K": t(K_src)[None, None], "src_T_ref": t(src_T_ref)[None, None]}
    total, _ = simplerecon_loss({"depth": scales, "log_depth": [x.log() for x in scales]},
                                batch, NEAR, FAR)
    total.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_plane_targets_are_two_hot_with_the_gt_log_depth_as_expectation():
    from edgegeo.models.mvs.losses import plane_targets

    log_planes = torch.linspace(math.log(0.25), math.log(8.0), 64)
    gt = torch.tensor([0.25, 8.0, 7.9999, 1.0, 3.3, 0.2, 9.0, 0.0]).view(1, 1, 1, 8)
    lower, upper_weight, valid = plane_targets(gt, log_planes, (1, 8))
    assert valid.flatten().tolist() == [True] * 5 + [False] * 3      # outside the range, none
    assert (lower >= 0).all() and (lower <= 62).all() and ((0 <= upper_weight) & (upper_weight <= 1)).all()
    expected = (1 - upper_weight) * log_planes[lower] + upper_weight * log_planes[lower + 1]
    np.testing.assert_allclose(expected[valid], torch.log(gt[valid]), atol=1e-5)
    # The GT is sampled at the pixel nearest each cell's centre of a coarser grid.
    fine = torch.arange(1, 17, dtype=torch.float32).view(1, 1, 4, 4) / 4
    lower, upper_weight, _ = plane_targets(fine, log_planes, (2, 2))
    picked = torch.exp((1 - upper_weight) * log_planes[lower] + upper_weight * log_planes[lower + 1])
    np.testing.assert_allclose(picked.flatten(), fine[0, 0, 1::2, 1::2].flatten(), rtol=1e-5)


def test_plane_cross_entropy_is_lowest_for_logits_peaked_at_the_gt_plane():
    from edgegeo.models.mvs.losses import plane_cross_entropy

    log_planes = torch.linspace(math.log(0.25), math.log(8.0), 16)
    gt = torch.exp(log_planes[5]).expand(1, 1, 8, 8).clone()
    gt[..., 0, 0] = 0.0                                                  # no GT: left out
    right, wrong = torch.zeros(1, 16, 2, 2), torch.zeros(1, 16, 2, 2)
    right[:, 5], wrong[:, 9] = 20.0, 20.0
    assert plane_cross_entropy(right, gt, log_planes) < 1e-6
    assert plane_cross_entropy(wrong, gt, log_planes) > 19.0
    uniform = plane_cross_entropy(torch.zeros(1, 16, 2, 2), gt, log_planes)
    assert uniform == pytest.approx(math.log(16), rel=1e-5)


def test_local_cross_entropy_targets_the_gt_hypothesis_and_clamps_outside_the_range():
    from edgegeo.models.mvs.losses import local_cross_entropy

    step, count = 0.05, 5                                               # R = 2
    center = torch.zeros(1, 1, 2, 2)                                    # log depth 0: 1 m
    gt = torch.full((1, 1, 4, 4), math.exp(step))                       # hypothesis k = +1
    gt[..., 0:2, 0:2] = 0.0                                             # one cell without GT
    right, wrong = torch.zeros(1, count, 2, 2), torch.zeros(1, count, 2, 2)
    right[:, 3], wrong[:, 0] = 30.0, 30.0
    assert local_cross_entropy(right, center, gt, step, 0.25, 8.0) < 1e-4
    assert local_cross_entropy(wrong, center, gt, step, 0.25, 8.0) > 29.0
    uniform = local_cross_entropy(torch.zeros(1, count, 2, 2), center, gt, step, 0.25, 8.0)
    assert uniform == pytest.approx(math.log(count), rel=1e-5)
    # GT far beyond the local range: the target is the end hypothesis on its side.
    far = torch.full((1, 1, 4, 4), math.exp(10 * step))
    end = torch.zeros(1, count, 2, 2)
    end[:, -1] = 30.0
    assert local_cross_entropy(end, center, far, step, 0.25, 8.0) < 1e-4
    # Halfway between two hypotheses: two-hot.
    half = torch.full((1, 1, 4, 4), math.exp(0.5 * step))
    two_hot = torch.full((1, count, 2, 2), -30.0)
    two_hot[:, 2:4] = 0.0
    assert local_cross_entropy(two_hot, center, half, step, 0.25, 8.0) == pytest.approx(
        math.log(2), rel=1e-4)
