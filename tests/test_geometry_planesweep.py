"""edgegeo.geometry.planesweep against warp_by_depth and the numpy projection module."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from edgegeo.geometry import (backproject, log_depth_planes, make_K, plane_sweep_grid,
                              plane_sweep_warp, project, warp_by_depth)

H, W = 12, 16
H_SRC, W_SRC = 14, 18


def cameras(batch_size=2):
    """Per-batch K_ref, K_src (B,3,3) and src_T_ref (B,4,4) float32 tensors + numpy copies."""
    rng = np.random.default_rng(7)
    K_ref, K_src, poses = [], [], []
    for index in range(batch_size):
        K_ref.append(make_K(*rng.uniform(12, 16, 2), (W - 1) / 2, (H - 1) / 2))
        K_src.append(make_K(*rng.uniform(12, 16, 2), (W_SRC - 1) / 2 + 0.3, (H_SRC - 1) / 2))
        pose = np.eye(4)
        pose[:3, :3] = Rotation.from_rotvec(rng.uniform(-0.1, 0.1, 3)).as_matrix()
        pose[:3, 3] = rng.uniform(-0.2, 0.2, 3) * (index + 1)
        poses.append(pose)
    as_tensor = lambda arrays: torch.tensor(np.stack(arrays), dtype=torch.float32)  # noqa: E731
    return as_tensor(K_ref), as_tensor(K_src), as_tensor(poses), (K_ref, K_src, poses)


def test_log_depth_planes_defaults():
    depths = log_depth_planes()
    assert depths.shape == (64,) and depths.dtype == torch.float32
    assert float(depths[0]) == 0.25 and float(depths[-1]) == 5.0
    ratios = (depths[1:] / depths[:-1]).double()
    np.testing.assert_allclose(ratios.numpy(), 20.0 ** (1 / 63), rtol=1e-6)


def test_plane_sweep_equals_warp_by_depth_at_each_plane():
    K_ref, K_src, src_T_ref, _ = cameras()
    features = torch.rand(2, 3, H_SRC, W_SRC, generator=torch.Generator().manual_seed(0))
    depths = log_depth_planes(5, 0.4, 3.0)
    volume, valid = plane_sweep_warp(features, K_ref, K_src, src_T_ref, depths, H, W)
    assert volume.shape == (2, 3, 5, H, W) and valid.shape == (2, 5, H, W)
    for plane, depth in enumerate(depths):
        warped, warp_valid = warp_by_depth(features, torch.full((2, 1, H, W), float(depth)),
                                           K_ref, K_src, src_T_ref)
        torch.testing.assert_close(volume[:, :, plane], warped, atol=1e-5, rtol=0)
        assert torch.equal(valid[:, plane], warp_valid[:, 0])
    assert 0.2 < float(valid.float().mean()) < 1.0


def test_plane_sweep_grid_matches_numpy_projection():
    K_ref, K_src, src_T_ref, (K_ref_np, K_src_np, poses_np) = cameras()
    depths = torch.tensor([0.5, 2.0])
    grid, src_depth, valid = plane_sweep_grid(K_ref, K_src, src_T_ref, depths, H, W,
                                              src_hw=(H_SRC, W_SRC))
    assert grid.shape == (2, 2, H, W, 2) and src_depth.shape == valid.shape == (2, 2, H, W)
    for b in range(2):
        for plane, depth in enumerate(depths.tolist()):
            points = backproject(np.full((H, W), depth), K_ref_np[b]).reshape(-1, 3)
            uv, z = project(points, K_src_np[b], poses_np[b])
            expected_grid = 2 * uv / [W_SRC - 1, H_SRC - 1] - 1
            np.testing.assert_allclose(grid[b, plane].reshape(-1, 2).numpy(), expected_grid,
                                       atol=1e-4)
            np.testing.assert_allclose(src_depth[b, plane].reshape(-1).numpy(), z, atol=1e-5)
            inside = ((z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] <= W_SRC - 1)
                      & (uv[:, 1] >= 0) & (uv[:, 1] <= H_SRC - 1))
            np.testing.assert_array_equal(valid[b, plane].reshape(-1).numpy(), inside)


def test_plane_sweep_is_differentiable_in_features():
    K_ref, K_src, src_T_ref, _ = cameras(1)
    features = torch.rand(1, 2, H_SRC, W_SRC, generator=torch.Generator().manual_seed(1),
                          requires_grad=True)
    volume, _ = plane_sweep_warp(features, K_ref, K_src, src_T_ref, log_depth_planes(4), H, W)
    volume.sum().backward()
    assert features.grad is not None and float(features.grad.abs().sum()) > 0


@pytest.mark.parametrize("call, message", [
    (lambda: log_depth_planes(1), "n must be >= 2"),
    (lambda: log_depth_planes(8, 2.0, 1.0), "d_max must be > d_min"),
    (lambda: log_depth_planes(8, 0.0, 1.0), "d_min"),
    (lambda: plane_sweep_warp(torch.zeros(1, 1, 4, 4), torch.eye(3)[None], torch.eye(3)[None],
                              torch.eye(4)[None], torch.tensor([1.0, -1.0]), 4, 4), "depths"),
    (lambda: plane_sweep_warp(torch.zeros(2, 1, 4, 4), torch.eye(3)[None], torch.eye(3)[None],
                              torch.eye(4)[None], torch.tensor([1.0]), 4, 4), r"K_ref must"),
    (lambda: plane_sweep_grid(torch.eye(3)[None], torch.eye(3)[None],
                              torch.full((1, 4, 4), float("nan")), torch.tensor([1.0]), 4, 4),
     "NaN or inf"),
])
def test_plane_sweep_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
