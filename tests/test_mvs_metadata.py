"""The SimpleRecon metadata volume against an independent per-pixel numpy computation, source
ordering by pose distance, padding sources, and the dot-product ablation volume."""
import math

import numpy as np
import pytest
import torch

from edgegeo.geometry import (look_at, plane_sweep_grid, plane_sweep_warp, pose_distance,
                              pose_distance_parts, scale_K)
from edgegeo.geometry.projection import project
from edgegeo.models.mvs.cost_volume import CostVolume
from edgegeo.models.mvs.metadata import (build_metadata, correlation_volume, cosine_volume,
                                         dot_product_volume,
                                         metadata_channels,
                                         metadata_layout, pose_distance_terms,
                                         scale_intrinsics, source_order)

B, S, C, D, H, W = 2, 3, 4, 5, 6, 8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _rotation(axis, degrees):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    angle = math.radians(degrees)
    skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * skew + (1 - math.cos(angle)) * skew @ skew


def _pose(axis, degrees, t):
    pose = np.eye(4)
    pose[:3, :3] = _rotation(axis, degrees)
    pose[:3, 3] = t
    return pose


@pytest.fixture(scope="module")
def setup():
    """Random features; sources given deliberately out of pose-distance order."""
    generator = torch.Generator().manual_seed(0)
    ref = torch.randn(B, C, H, W, generator=generator)
    src = torch.randn(B, S, C, H, W, generator=generator)
    K = np.array([[6.0, 0, 3.6], [0, 5.5, 2.4], [0, 0, 1]])
    K_src = np.stack([K, K * [[1.1], [1.1], [1]], K + [[0, 0, 0.3], [0, 0, -0.2], [0, 0, 0]]])
    poses = np.stack([
        [_pose([0, 1, 0], 4, [0.30, 0.02, -0.05]),      # farthest
         _pose([1, 0, 0], -2, [-0.08, 0.01, 0.02]),     # nearest
         _pose([0, 1, 1], 6, [0.05, -0.12, 0.04])],     # middle
        [_pose([0, 1, 0], -3, [0.10, 0.0, 0.0]),
         _pose([1, 1, 0], 8, [0.0, 0.2, 0.1]),
         _pose([0, 0, 1], 1, [0.02, 0.0, 0.01])],
    ])
    depths = torch.tensor([0.5, 0.9, 1.6, 2.9, 5.0])
    return {"ref": ref, "src": src, "K": np.stack([K, K * [[0.9], [1], [1]]]),
            "K_src": np.stack([K_src, K_src[::-1]]), "poses": poses, "depths": depths}


def _tensors(setup, permutation=None):
    src, K_src, poses = setup["src"], setup["K_src"], setup["poses"]
    if permutation is not None:
        src, K_src, poses = src[:, permutation], K_src[:, permutation], poses[:, permutation]
    return (setup["ref"], src, torch.tensor(setup["K"], dtype=torch.float32),
            torch.tensor(np.ascontiguousarray(K_src), dtype=torch.float32),
            torch.tensor(np.ascontiguousarray(poses), dtype=torch.float32), setup["depths"])


def _bilinear(feature: np.ndarray, u: float, v: float) -> np.ndarray:
    """Sample (C, H, W) at pixel (u, v), pixel centres at integers, zero outside."""
    _, height, width = feature.shape
    u0, v0 = math.floor(u), math.floor(v)
    total = np.zeros(feature.shape[0])
    for du in (0, 1):
        for dv in (0, 1):
            x, y = u0 + du, v0 + dv
            weight = (1 - abs(u - x)) * (1 - abs(v - y))
            if 0 <= x < width and 0 <= y < height and weight > 0:
                total += weight * feature[:, y, x]
    return total


def _expected(setup, b, source, plane, u, v):
    """Everything the metadata holds for one (batch, source, plane, pixel), from numpy."""
    K, K_s, pose = setup["K"][b], setup["K_src"][b][source], setup["poses"][b][source]
    d = float(setup["depths"][plane])
    point = d * np.linalg.inv(K) @ np.array([u, v, 1.0])
    (uv,), (z,) = project(point[None], K_s, cam_T_world=pose)
    inside = -1e-3 <= uv[0] <= W - 1 + 1e-3 and -1e-3 <= uv[1] <= H - 1 + 1e-3
    in_front = z > 1e-6
    feature = setup["src"][b, source].double().numpy()
    warped = _bilinear(feature, *uv) if (inside and in_front) else np.zeros(C)
    ref_feature = setup["ref"][b, :, v, u].double().numpy()
    centre = np.linalg.inv(pose)[:3, 3]                       # source centre, reference frame
    ref_ray = point / np.linalg.norm(point)
    src_ray = (point - centre) / np.linalg.norm(point - centre)
    t_m, rot_term = pose_distance_parts(pose)
    return {"ref_feature": ref_feature, "warped": warped, "dot": warped @ ref_feature * in_front,
            "ref_ray": ref_ray, "src_ray": src_ray, "plane_depth": d, "reprojected_depth": z,
            "ray_cosine": ref_ray @ src_ray, "pose_distance": pose_distance(pose), "pose_t": t_m,
            "pose_R": math.sqrt(rot_term), "mask": float(in_front)}


def test_channel_count_is_simplerecons_202():
    assert metadata_channels(16, 7) == 202
    layout = metadata_layout(16, 7)
    assert layout["mask"].stop == 202
    assert sum(s.stop - s.start for s in layout.values()) == 202


def test_metadata_matches_an_independent_per_pixel_computation(setup):
    metadata = build_metadata(*_tensors(setup)).double().numpy()
    assert metadata.shape == (B, metadata_channels(C, S), D, H, W)
    layout = metadata_layout(C, S)
    checked = inside = 0
    for b in range(B):
        distances = [pose_distance(p) for p in setup["poses"][b]]
        order = np.argsort(distances)                  # block n holds the n-th nearest source
        for rank, source in enumerate(order):
            for plane, u, v in [(0, 0, 0), (1, 3, 2), (2, 7, 5), (3, 5, 1), (4, 2, 4), (2, 4, 3)]:
                want = _expected(setup, b, source, plane, u, v)
                got = metadata[b, :, plane, v, u]

                def block(name, width=1):
                    values = got[layout[name]]
                    return values[rank * width:(rank + 1) * width]

                np.testing.assert_allclose(got[layout["ref_feature"]], want["ref_feature"],
                                           atol=1e-6)
                np.testing.assert_allclose(block("src_features", C), want["warped"], atol=1e-5)
                np.testing.assert_allclose(block("dot"), want["dot"], atol=1e-5)
                np.testing.assert_allclose(got[layout["ref_ray"]], want["ref_ray"], atol=1e-6)
                np.testing.assert_allclose(block("src_rays", 3), want["src_ray"], atol=1e-6)
                np.testing.assert_allclose(got[layout["plane_depth"]], want["plane_depth"],
                                           rtol=1e-6)
                np.testing.assert_allclose(block("reprojected_depth"), want["reprojected_depth"],
                                           rtol=1e-5, atol=1e-6)
                np.testing.assert_allclose(block("ray_cosine"), want["ray_cosine"], atol=1e-6)
                for name in ("pose_distance", "pose_t", "pose_R"):
                    np.testing.assert_allclose(block(name), want[name], rtol=1e-5, atol=2e-4)
                np.testing.assert_array_equal(block("mask"), want["mask"])
                checked += 1
                inside += bool(np.any(want["warped"] != 0))
    assert checked == B * S * 6
    assert 10 <= inside < checked       # both sampled and zeroed (outside) cases are checked


def test_some_samples_fall_outside_a_source_and_are_zero(setup):
    """The fixture exercises both branches of the validity logic."""
    metadata = build_metadata(*_tensors(setup))
    layout = metadata_layout(C, S)
    warped = metadata[:, layout["src_features"]]
    empty = (warped == 0).all(1)
    assert empty.any() and (~empty).any()


def test_points_behind_a_source_have_mask_zero(setup):
    ref, src, K, K_src, poses, depths = _tensors(setup)
    poses = poses.clone()
    poses[:, 0] = torch.tensor(_pose([0, 1, 0], 180, [0.0, 0.0, 0.2]), dtype=torch.float32)
    metadata = build_metadata(ref, src, K, K_src, poses, depths)
    layout = metadata_layout(C, S)
    order = source_order(poses)
    for b in range(B):
        rank = order[b].tolist().index(0)
        assert (metadata[b, layout["mask"].start + rank] == 0).all()
        assert (metadata[b, layout["reprojected_depth"].start + rank] < 0).all()
        assert (metadata[b, layout["src_features"].start + rank * C:][:C] == 0).all()
        assert (metadata[b, layout["dot"].start + rank] == 0).all()


def test_sources_are_ordered_by_pose_distance_whatever_the_input_order(setup):
    reference = build_metadata(*_tensors(setup))
    layout = metadata_layout(C, S)
    distance = reference[:, layout["pose_distance"], 0, 0, 0]
    assert (distance[:, 1:] >= distance[:, :-1]).all()
    for permutation in ([2, 0, 1], [1, 2, 0], [2, 1, 0]):
        np.testing.assert_allclose(build_metadata(*_tensors(setup, permutation)), reference,
                                   atol=1e-6)


def test_source_order_puts_padding_last():
    poses = torch.eye(4).repeat(1, 4, 1, 1)
    poses[0, :, 0, 3] = torch.tensor([0.3, 0.1, 0.0, 0.2])
    valid = torch.tensor([[True, True, False, True]])
    assert source_order(poses).tolist() == [[2, 1, 3, 0]]
    assert source_order(poses, valid).tolist() == [[1, 3, 0, 2]]


def test_padding_sources_contribute_only_zeros(setup):
    args = _tensors(setup)
    valid = torch.tensor([[True, False, True], [False, True, True]])
    metadata = build_metadata(*args, source_valid=valid)
    full = build_metadata(*args)
    layout = metadata_layout(C, S)
    per_source = [name for name in layout if name not in ("ref_feature", "ref_ray", "plane_depth")]
    width = {"src_features": C, "src_rays": 3}
    for name in per_source:
        # The padding source sorts last: its slot in every per-source block is zero.
        last = slice(layout[name].stop - width.get(name, 1), layout[name].stop)
        assert (metadata[:, last] == 0).all(), name
    for name in ("ref_feature", "ref_ray", "plane_depth"):
        np.testing.assert_array_equal(metadata[:, layout[name]], full[:, layout[name]])


def test_pose_terms_match_the_numpy_geometry(setup):
    poses = torch.tensor(setup["poses"], dtype=torch.float64)
    distance, t_m, R_m = pose_distance_terms(poses)
    for b in range(B):
        for s in range(S):
            t_want, rot_term = pose_distance_parts(setup["poses"][b, s])
            assert distance[b, s].item() == pytest.approx(pose_distance(setup["poses"][b, s]))
            assert t_m[b, s].item() == pytest.approx(t_want)
            assert R_m[b, s].item() ** 2 == pytest.approx(rot_term, abs=1e-12)


def test_scale_intrinsics_matches_scale_K():
    K = np.array([[210.0, 0.3, 127.5], [0, 205.0, 95.5], [0, 0, 1]])
    got = scale_intrinsics(torch.tensor(K), 0.25).numpy()
    np.testing.assert_allclose(got, scale_K(K, 0.25, 0.25), atol=1e-12)


def test_dot_switch_builds_the_plain_dot_product_volume(setup):
    ref, src, K, K_src, poses, depths = _tensors(setup)
    volume = CostVolume("dot", C, S)(ref, src, K, K_src, poses, depths)
    assert volume.shape == (B, D, H, W)
    assert sum(p.numel() for p in CostVolume("dot", C, S).parameters()) == 0
    # Independently: geometry's plane sweep, feature dot products, summed over sources.
    expected = torch.zeros(B, D, H, W)
    for s in range(S):
        warped, valid = plane_sweep_warp(src[:, s], K, K_src[:, s], poses[:, s], depths, H, W)
        expected += (warped * ref.unsqueeze(2)).sum(1) * valid
    np.testing.assert_allclose(volume, expected, atol=1e-5)
    # ... and it is the sum of the metadata's dot-product channels.
    metadata = build_metadata(ref, src, K, K_src, poses, depths)
    dots = metadata[:, metadata_layout(C, S)["dot"]].sum(1)
    np.testing.assert_allclose(volume, dots, atol=1e-5)
    valid = torch.tensor([[True, False, True], [True, True, False]])
    masked = dot_product_volume(ref, src, K, K_src, poses, depths, valid)
    np.testing.assert_allclose(masked, build_metadata(ref, src, K, K_src, poses, depths, valid)[
        :, metadata_layout(C, S)["dot"]].sum(1), atol=1e-5)


def test_cosine_volume_is_the_mean_cosine_over_the_sources_that_see_the_point(setup):
    ref, src, K, K_src, poses, depths = _tensors(setup)
    volume = CostVolume("cosine", C, S)(ref, src, K, K_src, poses, depths)
    assert volume.shape == (B, D, H, W) and volume.abs().max() <= 1 + 1e-5
    # Independently: unit source features swept by geometry, then cosines with the reference.
    unit = src / src.norm(dim=2, keepdim=True)
    total, count = torch.zeros(B, D, H, W), torch.zeros(B, D, H, W)
    for s in range(S):
        warped, valid = plane_sweep_warp(unit[:, s], K, K_src[:, s], poses[:, s], depths, H, W)
        cosine = torch.nn.functional.cosine_similarity(warped, ref.unsqueeze(2), dim=1)
        total += cosine * valid
        count += valid
    np.testing.assert_allclose(volume, total / count.clamp_min(1), atol=1e-5)
    # Scaling the features changes nothing; an invalid source is left out of the mean.
    np.testing.assert_allclose(cosine_volume(3 * ref, 0.1 * src, K, K_src, poses, depths),
                               volume, atol=1e-5)
    keep = torch.tensor([[True, False, True], [True, True, False]])
    unit_kept = unit * keep.view(B, S, 1, 1, 1)
    masked = cosine_volume(ref, src, K, K_src, poses, depths, keep)
    total, count = torch.zeros(B, D, H, W), torch.zeros(B, D, H, W)
    for s in range(S):
        warped, valid = plane_sweep_warp(unit_kept[:, s], K, K_src[:, s], poses[:, s], depths,
                                         H, W)
        valid = valid & keep[:, s].view(B, 1, 1, 1)
        total += torch.nn.functional.cosine_similarity(warped, ref.unsqueeze(2), dim=1) * valid
        count += valid
    np.testing.assert_allclose(masked, total / count.clamp_min(1), atol=1e-5)


def test_correlation_volume_is_the_coverage_weighted_mean_of_unit_feature_products(setup):
    ref, src, K, K_src, poses, depths = _tensors(setup)
    volume = CostVolume("correlation", C, S)(ref, src, K, K_src, poses, depths)
    assert volume.shape == (B, D, H, W) and volume.abs().max() <= 1 + 1e-5
    # Independently: unit source features and a ones channel sampled (zero padding) where each
    # plane point in front of the source projects, weighted 1 inside the pixel centres and
    # fading to 0 over BORDER_FADE_PX beyond them; the products with the unit reference summed
    # over sources, over the summed coverage (divided by at least 0.1).
    from edgegeo.models.mvs.metadata import BORDER_FADE_PX as band
    unit = src / src.norm(dim=2, keepdim=True)
    unit_ref = ref / ref.norm(dim=1, keepdim=True)
    total, coverage = torch.zeros(B, D, H, W), torch.zeros(B, D, H, W)
    for s in range(S):
        features = torch.cat([unit[:, s], torch.ones(B, 1, H, W)], dim=1)
        grid, src_depth, _ = plane_sweep_grid(K, K_src[:, s], poses[:, s], depths, H, W)
        u, v = (grid[..., 0] + 1) * (W - 1) / 2, (grid[..., 1] + 1) * (H - 1) / 2
        fade = (((torch.minimum(u, W - 1 - u) + band) / band).clamp(0, 1)
                * ((torch.minimum(v, H - 1 - v) + band) / band).clamp(0, 1))
        grid = torch.where((src_depth > 1e-6).unsqueeze(-1), grid, -4.0)
        warped = torch.nn.functional.grid_sample(
            features, grid.reshape(B, D * H, W, 2), padding_mode="zeros",
            align_corners=True).reshape(B, C + 1, D, H, W) * fade.unsqueeze(1)
        total += (warped[:, :-1] * unit_ref.unsqueeze(2)).sum(1)
        coverage += warped[:, -1]
    expected = total / coverage.clamp_min(0.1)
    np.testing.assert_allclose(volume, expected, atol=1e-5)
    assert (coverage == 0).any() and (coverage > 1).any()    # unseen and multi-seen points
    # Where one source sees a point from a texel centre, the score is the cosine itself.
    np.testing.assert_allclose(correlation_volume(3 * ref, 0.1 * src, K, K_src, poses, depths),
                               volume, atol=1e-5)
    # A padding source changes nothing but its own share; a source given twice weighs twice.
    keep = torch.tensor([[True, False, True], [True, True, False]])
    masked = correlation_volume(ref, src, K, K_src, poses, depths, keep)
    for b in range(B):
        kept = keep[b].nonzero().flatten()
        alone = correlation_volume(ref[b:b + 1], src[b:b + 1, kept], K[b:b + 1],
                                   K_src[b:b + 1, kept], poses[b:b + 1, kept], depths)
        np.testing.assert_allclose(masked[b:b + 1], alone, atol=1e-5)


def test_correlation_volume_peaks_at_the_true_plane_of_a_fronto_parallel_scene():
    """A source 10 cm to the right seeing the same features shifted by f·b/z: the plane at z
    scores ≈ 1 inside the overlap and the argmax picks it."""
    generator = torch.Generator().manual_seed(3)
    h, w, focal, baseline = 12, 40, 20.0, 0.1
    K = torch.tensor([[[focal, 0, (w - 1) / 2], [0, focal, (h - 1) / 2], [0, 0, 1]]])
    depths = torch.tensor([0.5, 0.8, 1.0, 1.6, 4.0])
    shift = int(focal * baseline / 1.0)                                 # 2 px at z = 1 m
    ref = torch.randn(1, 8, h, w, generator=generator)
    src = torch.roll(ref, -shift, dims=-1)          # source pixel x − shift sees reference x
    pose = torch.eye(4).view(1, 1, 4, 4).clone()
    pose[0, 0, 0, 3] = -baseline                    # source camera 10 cm to the right
    volume = correlation_volume(ref, src.unsqueeze(1), K, K[:, None], pose, depths)
    inner = volume[0, :, :, shift + 1:w - shift - 1]
    assert (inner.argmax(0) == 2).all()
    assert inner[2].min() > 0.999 and inner[[0, 1, 3, 4]].mean((1, 2)).max() < 0.6


def test_metadata_mode_runs_the_mlp_and_chunks_planes_identically(setup):
    torch.manual_seed(0)
    cost = CostVolume("metadata", C, S, (16, 8)).eval()
    assert cost.mlp.in_channels == metadata_channels(C, S)
    with torch.no_grad():
        whole = cost(*_tensors(setup))
        cost.plane_chunk = 2
        chunked = cost(*_tensors(setup))
    assert whole.shape == (B, D, H, W)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


def test_bad_shapes_are_refused(setup):
    ref, src, K, K_src, poses, depths = _tensors(setup)
    with pytest.raises(ValueError, match="src_T_ref must have shape"):
        build_metadata(ref, src, K, K_src, poses[:, :2], depths)
    with pytest.raises(ValueError, match="expects 2 sources"):
        CostVolume("dot", C, 2)(ref, src, K, K_src, poses, depths)
    with pytest.raises(ValueError, match="mode must be one of"):
        CostVolume("variance", C, S)


def test_a_scene_from_look_at_poses_is_consistent():
    """Rays and reprojected depth on a real camera layout: the reference point seen from a
    source looking at the same spot has the source depth the source camera measures."""
    world_T_ref = look_at([0, 0, 1.5], [3, 0, 1.2])
    world_T_src = look_at([0.2, 0.3, 1.5], [3, 0, 1.2])
    src_T_ref = np.linalg.inv(world_T_src) @ world_T_ref
    K = np.array([[4.0, 0, 3.5], [0, 4.0, 2.5], [0, 0, 1]])
    feats = torch.zeros(1, C, H, W)
    metadata = build_metadata(feats, feats.unsqueeze(1), torch.tensor(K[None], dtype=torch.float32),
                              torch.tensor(K[None, None], dtype=torch.float32),
                              torch.tensor(src_T_ref[None, None], dtype=torch.float32),
                              torch.tensor([3.0]))
    layout = metadata_layout(C, 1)
    point_ref = 3.0 * np.linalg.inv(K) @ np.array([3.0, 2.0, 1.0])
    point_world = world_T_ref[:3, :3] @ point_ref + world_T_ref[:3, 3]
    z_src = (np.linalg.inv(world_T_src) @ np.append(point_world, 1.0))[2]
    got = metadata[0, layout["reprojected_depth"], 0, 2, 3].item()
    assert got == pytest.approx(z_src, rel=1e-5)
    ray = world_T_ref[:3, :3] @ metadata[0, layout["src_rays"], 0, 2, 3].double().numpy()
    direction = point_world - world_T_src[:3, 3]
    np.testing.assert_allclose(ray, direction / np.linalg.norm(direction), atol=1e-5)


def test_correlation_volume_at_per_pixel_depths_equals_the_plane_sweep():
    """Per-pixel depth hypotheses (the local volume's) that are constant maps give the plane
    sweep's correlations exactly."""
    from edgegeo.models.mvs.metadata import correlation_volume

    generator = torch.Generator().manual_seed(0)
    B, S, C, h, w = 2, 3, 5, 6, 8
    ref = torch.randn(B, C, h, w, generator=generator)
    src = torch.randn(B, S, C, h, w, generator=generator)
    K = torch.tensor([[8.0, 0, 3.5], [0, 8.0, 2.5], [0, 0, 1]]).expand(B, 3, 3)
    poses = torch.eye(4).repeat(B, S, 1, 1)
    poses[..., 0, 3] = torch.tensor([0.1, -0.15, 0.2])
    depths = torch.tensor([0.5, 1.0, 2.5, 4.0])
    valid = torch.tensor([[True, True, False], [True, False, True]])
    planes = correlation_volume(ref, src, K, K.unsqueeze(1).expand(B, S, 3, 3), poses, depths,
                                valid)
    maps = depths.view(1, -1, 1, 1).expand(B, 4, h, w)
    per_pixel = correlation_volume(ref, src, K, K.unsqueeze(1).expand(B, S, 3, 3), poses, maps,
                                   valid)
    np.testing.assert_allclose(per_pixel, planes, atol=1e-6)
    with pytest.raises(ValueError, match="per-pixel"):
        correlation_volume(ref, src, K, K.unsqueeze(1).expand(B, S, 3, 3), poses,
                           maps[..., :4], valid)


def test_correlation_volume_exports_as_neighbourhood_gathers_with_the_eager_values(setup,
                                                                                  tmp_path):
    """The exported correlation volume (plane sweep and per-pixel hypotheses, padding sources)
    runs as Gather + MatMul — no GridSample — and ONNX Runtime gives the eager volume, samples
    near and beyond the source borders included."""
    import onnx
    import onnxruntime as ort

    ref, src, K, K_src, poses, _ = _tensors(setup)
    valid = torch.tensor([[True, True, False], [True, False, True]])
    generator = torch.Generator().manual_seed(1)
    per_pixel = torch.exp(torch.randn(B, D, H, W, generator=generator))

    class Volume(torch.nn.Module):
        def forward(self, ref, src, K, K_src, poses, depths, valid):
            return correlation_volume(ref, src, K, K_src, poses, depths, valid)

    for depths in (setup["depths"], per_pixel):
        arguments = (ref, src, K, K_src, poses, depths, valid)
        expected = Volume()(*arguments)
        path = tmp_path / f"volume_{depths.dim()}.onnx"
        names = ["ref", "src", "K", "K_src", "poses", "depths", "valid"]
        torch.onnx.export(Volume(), arguments, str(path), input_names=names, opset_version=17,
                          dynamo=False)
        ops = {node.op_type for node in onnx.load(str(path)).graph.node}
        assert {"Gather", "MatMul"} <= ops and "GridSample" not in ops
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {n: t.numpy() for n, t in zip(names, arguments)
                 if n in {i.name for i in session.get_inputs()}}
        got = session.run(None, feeds)[0]
        np.testing.assert_allclose(got, expected.numpy(), atol=2e-5)


def test_correlation_volume_is_continuous_across_the_source_borders(setup):
    """A projection crossing a source's border fades that source out instead of dropping it:
    between two poses 0.2 mm apart, across which the volume changes most, it changes in small
    steps, not in one jump, so two runtimes that round a border projection differently agree
    (the exported mvs graph's fp32 parity)."""
    ref, src, K, K_src, poses, depths = _tensors(setup)

    def slid(volume, metres):
        moved = poses.clone()
        moved[..., 0, 3] += metres
        return volume(ref, src, K, K_src, moved, depths, None)

    from edgegeo.models.mvs.metadata import _correlation_volume_by_gathers

    for volume in (correlation_volume, _correlation_volume_by_gathers):
        coarse = [slid(volume, 2e-4 * step) for step in range(100)]      # 2 cm in 0.2 mm steps
        changes = [float((b - a).abs().max()) for a, b in zip(coarse, coarse[1:])]
        start = 2e-4 * int(np.argmax(changes))
        fine = [slid(volume, start + 2e-4 * k / 400) for k in range(401)]
        steps = [float((b - a).abs().max()) for a, b in zip(fine, fine[1:])]
        assert max(steps) < 0.02
    # The slide does carry plane points across source borders.
    inside = []
    for metres in (0.0, 0.02):
        moved = poses.clone()
        moved[..., 0, 3] += metres
        inside.append(sum(int(plane_sweep_grid(K, K_src[:, s], moved[:, s], depths, H, W)[2].sum())
                          for s in range(S)))
    assert inside[0] != inside[1]
