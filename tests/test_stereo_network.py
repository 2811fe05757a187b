"""The ``stereo`` cost-volume network: its matching blocks compute what they claim, shapes and
ranges of the outputs, configs, and the predictor on any image size."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgegeo.models.stereo import CostVolumeStereo, StereoConfig, StereoPredictor
from edgegeo.models.stereo.network import (CandidateSelection, group_cosine_volume,
                                           neighbour_candidates, row_correlation)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_network(seed: int = 0) -> CostVolumeStereo:
    torch.manual_seed(seed)
    return CostVolumeStereo(StereoConfig.named("tiny")).eval()


def test_correlation_volume_peaks_at_the_true_shift():
    torch.manual_seed(0)
    right = torch.randn(1, 8, 6, 40)
    shift = 5
    left = torch.zeros_like(right)
    left[..., shift:] = right[..., :-shift]           # left(x) = right(x − 5)
    volume = group_cosine_volume(left, right, levels=12, groups=2)
    assert volume.shape == (1, 24, 6, 40)
    per_group = volume.reshape(1, 12, 2, 6, 40)
    best = per_group[..., 12:].argmax(1)               # columns where every shift is inside
    assert (best == shift).all()
    assert torch.allclose(per_group[:, shift, :, :, 12:], torch.ones(1, 2, 6, 28), atol=1e-5)
    assert (per_group[:, 7, :, :, :7] == 0).all()      # off the image: no similarity


def test_row_correlation_is_the_cosine_with_the_linearly_interpolated_right_feature():
    torch.manual_seed(1)
    left, right = torch.randn(2, 3, 4, 10), torch.randn(2, 3, 4, 10)
    x = torch.tensor([-1.5, -0.25, 0.0, 2.5, 8.75, 9.0, 9.5, 12.0]).view(1, 1, 1, 8)
    x = torch.cat([x, x + 0.5], 3).expand(2, 1, 4, 16)[..., :10].contiguous()
    columns = torch.arange(10, dtype=torch.float32).view(1, 1, 1, 10)
    got = row_correlation(left, right, [columns - x, columns - x + 1.0])     # at x, x − 1
    assert got.shape == (2, 2, 4, 10)
    unit_right = F.normalize(right, dim=1)
    rows = torch.arange(4, dtype=torch.float32).view(1, 1, 4, 1).expand(2, 1, 4, 10)
    for k, positions in enumerate((x, x - 1.0)):
        grid = torch.stack([positions[:, 0] / 9 * 2 - 1, rows[:, 0] / 3 * 2 - 1], -1)
        sampled = F.grid_sample(unit_right, grid, mode="bilinear", padding_mode="zeros",
                                align_corners=True)
        expected = (F.normalize(left, dim=1) * sampled).sum(1)
        torch.testing.assert_close(got[:, k], expected, rtol=0, atol=1e-6)
    assert (got[:, 0, :, [0, 7]] == 0).all()          # taps at −1.5 and 12.0: off the map


def test_forward_shapes_ranges_and_intermediates():
    network = tiny_network()
    left, right = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        out = network(left, right)
        parts = network(left, right, intermediates=True)
    assert out.shape == (2, 2, 64, 96) and out.dtype == torch.float32
    assert (out[:, 0] >= 0).all() and (out[:, 1].abs() < 3).all()
    assert parts["logits8"].shape == (2, 4, 8, 12)               # tiny: 32 px = 4 shifts at ⅛
    assert parts["d8"].shape == (2, 1, 8, 12) and parts["d4"].shape == (2, 1, 16, 24)
    assert parts["d2"].shape == (2, 1, 32, 48) and parts["disparity"].shape == (2, 1, 64, 96)
    assert parts["d1"].shape == (2, 1, 64, 96)                   # the full-resolution stage's input
    assert ((parts["d8"] >= 0) & (parts["d8"] <= 3)).all()      # soft-argmin inside the range
    assert torch.allclose(out[:, :1], parts["disparity"].clamp_min(0))


def test_every_parameter_gets_a_gradient():
    network = tiny_network().train()
    parts = network(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64), intermediates=True)
    loss = sum(value.float().mean() for value in parts.values())
    loss.backward()
    missing = [name for name, p in network.named_parameters() if p.grad is None]
    assert not missing


def test_full_resolution_stage_starts_as_the_identity_and_then_corrects_within_its_radius():
    network = tiny_network()
    left, right = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        parts = network(left, right, intermediates=True)
        assert torch.equal(parts["disparity"], parts["d1"])
        torch.nn.init.normal_(network.refine1.net[-1].weight)
        moved = network(left, right, intermediates=True)
    step = (moved["disparity"] - moved["d1"]).abs()
    assert float(step.max()) > 0 and float(step.max()) <= network.config.fine_radius
    without = CostVolumeStereo(StereoConfig.named("small"))
    assert not hasattr(without, "refine1")
    assert StereoConfig.named("fine").fine_channels > 0


def test_candidates_are_the_bilinear_estimate_and_the_coarse_neighbours():
    coarse = torch.zeros(1, 1, 4, 4)
    coarse[..., 2:] = 10.0                                   # a depth edge between columns 1|2
    candidates = neighbour_candidates(coarse)
    assert candidates.shape == (1, 10, 8, 8)
    torch.testing.assert_close(candidates[:, :1], 2 * F.interpolate(
        coarse, scale_factor=2.0, mode="bilinear", align_corners=False))
    torch.testing.assert_close(candidates[:, 5:6], 2 * F.interpolate(coarse, scale_factor=2.0))
    # a fine pixel beside the edge (bilinear: a blend) has both sides' values to choose from
    pixel = candidates[0, :, 4, 3]
    assert 0 < pixel[0] < 20 and {0.0, 20.0} <= set(pixel[1:].tolist())
    assert set(candidates[0, 1:, 0, 0].tolist()) == {0.0}  # border cells repeat, never 0-pad


def test_selection_starts_near_bilinear_and_can_pick_any_candidate():
    torch.manual_seed(0)
    stage = CandidateSelection(channels=4, hidden=8).eval()
    left, right = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
    coarse = torch.rand(1, 1, 4, 4) * 3
    with torch.no_grad():
        start, logits, candidates = stage(left, right, coarse)
        assert torch.equal(logits.argmax(1), torch.zeros_like(logits[:, 0], dtype=torch.long))
        stage.net[-1].bias.copy_(torch.full((10,), -20.0))
        stage.net[-1].bias[7] = 20.0
        picked, _, _ = stage(left, right, coarse)
    assert start.shape == (1, 1, 8, 8)
    torch.testing.assert_close(picked, candidates[:, 7:8])
    assert StereoConfig.named("propagate").propagate and not StereoConfig.named("small").propagate


@pytest.mark.parametrize("final", ["jbu", "residual"])
def test_both_final_stages_run(final):
    torch.manual_seed(0)
    network = CostVolumeStereo(StereoConfig(max_disparity=32, channels=(8, 8, 8), groups=2,
                                            hourglass=(8, 8, 8), refine_radius=(1, 1),
                                            refine_channels=(8, 8), final=final)).eval()
    with torch.no_grad():
        assert network(torch.rand(1, 3, 32, 64), torch.rand(1, 3, 32, 64)).shape == (1, 2, 32, 64)


def test_bad_inputs_and_configs_name_the_problem():
    network = tiny_network()
    with pytest.raises(ValueError, match="multiples of 32"):
        network(torch.rand(1, 3, 40, 64), torch.rand(1, 3, 40, 64))
    with pytest.raises(ValueError, match="one shape"):
        network(torch.rand(1, 3, 32, 64), torch.rand(1, 3, 32, 96))
    with pytest.raises(ValueError, match="multiple of 8"):
        StereoConfig(max_disparity=100)
    with pytest.raises(ValueError, match="final"):
        StereoConfig(final="bicubic")
    with pytest.raises(ValueError, match="unknown stereo config"):
        StereoConfig.named("huge")
    with pytest.raises(ValueError, match="unknown stereo config fields"):
        StereoConfig.from_dict({"max_disparity": 64, "depth": 3})
    config = StereoConfig.named("small")
    assert StereoConfig.from_dict(config.to_dict()) == config


def test_predictor_takes_any_size_and_shrinks_wide_ranges():
    network = tiny_network()
    predictor = StereoPredictor(network, check_rectification=False)
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    right = np.roll(left, -3, axis=1)
    disparity, confidence = predictor(left, right, return_confidence=True)
    assert disparity.shape == (50, 70) and disparity.dtype == np.float32
    assert confidence.shape == (50, 70) and (confidence > 0).all()
    assert (disparity >= 0).all()
    # the same pair as a strided view (vertical flip) is accepted
    assert predictor(left[::-1], right[::-1]).shape == (50, 70)
    wide = StereoPredictor(network, max_disparity=64, check_rectification=False)
    assert wide.working_scale() == 0.5
    assert wide(left, right).shape == (50, 70)
    with pytest.raises(ValueError, match="differ in size"):
        predictor(left, right[:40])
    with pytest.raises(ValueError, match="max_disparity"):
        StereoPredictor(network, max_disparity=0)
    with pytest.raises(ValueError, match="max_disparity"):
        StereoPredictor(torch.nn.Identity())
