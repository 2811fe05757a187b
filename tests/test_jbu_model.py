"""The learned JBU: stage and stack shapes, kernel properties, gradients, the depth model's
invalid-pixel handling, its predictor on odd sizes and ``edgegeo.load("jbu")``."""

import numpy as np
import pytest
import torch

import edgegeo
from edgegeo.models.jbu import (DepthJBU, JBUConfig, JBUPredictor, JBUStack, JBUStage,
                                area_downsample_depth)
from edgegeo.ops.exportable import local_correlation
from edgegeo.weights_io import save_weights


def _generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_stage_doubles_the_source_and_keeps_channels():
    stage = JBUStage(key_dim=8, correction_hidden=8)
    source = torch.rand(2, 5, 6, 9, generator=_generator())
    guidance = torch.rand(2, 3, 12, 18, generator=_generator(1))
    assert stage(source, guidance).shape == (2, 5, 12, 18)
    # a larger guide is average-pooled to the output size
    assert stage(source, torch.rand(2, 3, 48, 72)).shape == (2, 5, 12, 18)


def test_stack_upsamples_by_two_per_stage():
    for stages, scale in ((2, 4), (3, 8)):
        stack = JBUStack(stages, key_dim=4, correction_hidden=0)
        out = stack(torch.rand(1, 3, 5, 7), torch.rand(1, 3, 5 * scale, 7 * scale))
        assert out.shape == (1, 3, 5 * scale, 7 * scale) and stack.scale == scale
    with pytest.raises(ValueError, match="needs 20x28"):
        JBUStack(2)(torch.rand(1, 3, 5, 7), torch.rand(1, 3, 21, 28))


def test_base_kernels_are_non_negative_and_sum_to_one():
    stage = JBUStage()
    with torch.no_grad():
        stage.log_temperature.fill_(2.0)          # a peaked range term
    guidance = torch.randn(2, 3, 10, 11, generator=_generator())
    kernels = stage.base_kernels(guidance)
    assert kernels.shape == (2, 10, 11, 49)
    assert (kernels >= 0).all()
    torch.testing.assert_close(kernels.sum(-1), torch.ones(2, 10, 11))
    # zero-initialised correction: the applied kernels start as the base kernels
    torch.testing.assert_close(stage.kernels(guidance).reshape(2, 10, 11, 49), kernels)


def test_range_term_follows_the_guidance():
    """Across a colour edge the kernel of a pixel puts (almost) no weight on the other side."""
    stage = JBUStage(key_dim=3, correction_hidden=0)
    with torch.no_grad():   # identity projection, sharp range term
        for conv in (stage.range_proj[0], stage.range_proj[2]):
            conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            conv.bias.zero_()
        stage.log_temperature.fill_(3.0)
    # keys after the GELU: (4, 0, 0) left of the edge, (0, 4, 0) right of it (orthogonal)
    guidance = torch.tensor([4.0, -4.0, 0.0]).view(1, 3, 1, 1).repeat(1, 1, 8, 8)
    guidance[:, :, :, 4:] = torch.tensor([-4.0, 4.0, 0.0]).view(1, 3, 1, 1)
    kernel = stage.base_kernels(guidance).view(1, 8, 8, 7, 7)
    # pixel (4, 3) is left of the edge: window columns j >= 4 map to image columns >= 4
    assert kernel[0, 4, 3, :, 4:].sum() < 0.01


def test_local_correlation_matches_the_definition_and_gradcheck():
    keys = torch.randn(2, 3, 5, 6, dtype=torch.float64, generator=_generator())
    out = local_correlation(keys, 2)
    padded = torch.nn.functional.pad(keys, (2, 2, 2, 2), mode="reflect")
    expected = torch.stack([(padded[:, :, i:i + 5, j:j + 6] * keys).sum(1)
                            for i in range(5) for j in range(5)], -1).view(2, 5, 6, 5, 5)
    torch.testing.assert_close(out, expected)
    assert torch.autograd.gradcheck(lambda k: local_correlation(k, 1),
                                    (keys[:1, :2, :4, :4].clone().requires_grad_(),))


@pytest.mark.parametrize("options", [{"radius": 3}, {"radius": 1, "correction_hidden": 0}])
def test_channels_first_form_equals_the_op_form(options):
    """The standard-op form written under ONNX export (taps as channels) computes the same
    upsampling as the adaptive-conv op, correction included."""
    torch.manual_seed(0)
    stage = JBUStage(**options)
    if stage.correction is not None:
        torch.nn.init.normal_(stage.correction[-1].weight, std=0.1)
    source, guidance = torch.rand(2, 3, 10, 12), torch.randn(2, 3, 20, 24)
    upsampled = torch.nn.functional.interpolate(source, scale_factor=2.0, mode="bicubic",
                                                align_corners=False)
    torch.testing.assert_close(stage.forward_channels_first(upsampled, guidance),
                               stage(source, guidance), rtol=0, atol=1e-5)


def test_gradients_reach_temperature_sigma_projection_and_correction():
    stage = JBUStage(key_dim=8, correction_hidden=8).double()
    with torch.no_grad():  # a non-zero correction so its first layer gets gradients too
        stage.correction[-1].weight.normal_(0, 0.01, generator=_generator(3))
    source = torch.randn(1, 2, 4, 5, dtype=torch.float64, generator=_generator(),
                         requires_grad=True)
    guidance = torch.randn(1, 3, 8, 10, dtype=torch.float64, generator=_generator(1))
    stage(source, guidance).square().mean().backward()
    for name, param in stage.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().max() > 0, name
    assert source.grad.abs().max() > 0
    # finite differences wrt source, temperature and sigma (float64)
    inputs = (source.detach()[:, :1].clone().requires_grad_(),
              torch.tensor(0.3, dtype=torch.float64, requires_grad=True),
              torch.tensor(-0.2, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(
        lambda src, t, s: JBUStage.forward(_with(stage, t, s), src, guidance), inputs)


def _with(stage, log_t, log_s):
    """The stage with its log-parameters replaced by (differentiable) tensors."""
    clone = JBUStage(key_dim=8, correction_hidden=8).double()
    clone.load_state_dict(stage.state_dict())
    del clone.log_temperature, clone.log_sigma
    clone.log_temperature, clone.log_sigma = log_t, log_s
    return clone


def test_depth_model_shapes_and_invalid_zeros_do_not_bleed():
    torch.manual_seed(0)
    model = DepthJBU(JBUConfig.named("tiny")).eval()
    low_h, low_w = 12, 16
    ramp = 1.0 + torch.linspace(0, 2, low_w).view(1, 1, 1, low_w).expand(1, 1, low_h, low_w)
    depth = ramp.clone()
    depth[..., 4:8, 6:10] = 0                                 # an invalid block
    image = torch.rand(1, 3, low_h * 4, low_w * 4, generator=_generator())
    with torch.no_grad():
        out = model(depth, image)
        full = model(ramp.contiguous(), image)
    assert out.shape == (1, 1, 48, 64)
    hole = torch.zeros(48, 64, dtype=torch.bool)
    hole[16:32, 24:40] = True
    assert (out[0, 0][hole] == 0).all()                       # invalid stays invalid
    assert (out[0, 0][~hole] > 0).all()
    # next to the hole, values stay those of the ramp (zeros would pull them far below 1)
    ring = torch.zeros_like(hole)
    ring[12:36, 20:44] = True
    ring &= ~hole
    assert (out[0, 0][ring] - full[0, 0][ring]).abs().max() < 0.25
    assert out[0, 0][ring].min() > 1.0


def test_area_downsample_is_invalid_aware():
    depth = np.full((8, 8), 2.0, np.float32)
    depth[:4, :4] = 0
    depth[4:, :4] = 0
    depth[4, 0] = 4.0
    low = area_downsample_depth(depth, 4)
    np.testing.assert_allclose(low, [[0, 2], [4, 2]])


@pytest.mark.parametrize("low, high", [((31, 47), (123, 187)), ((15, 21), (60, 84)),
                                        ((10, 12), (20, 24)), ((6, 8), (48, 64))])
def test_predictor_handles_odd_sizes_and_other_scales(low, high):
    torch.manual_seed(0)
    predictor = JBUPredictor(DepthJBU(JBUConfig.named("tiny")))
    rng = np.random.default_rng(0)
    depth = rng.uniform(1, 3, low).astype(np.float32)
    depth[0, 0] = 0
    image = rng.integers(0, 256, (*high, 3), dtype=np.uint8)
    out = predictor(depth, image)
    assert out.shape == high and out.dtype == np.float32
    valid = out[out > 0]
    assert valid.size > 0.9 * out.size and valid.min() >= 1 - 1e-5 and valid.max() <= 3 + 1e-5


def test_predictor_rejects_bad_input():
    predictor = JBUPredictor(DepthJBU(JBUConfig.named("tiny")))
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="NaN"):
        predictor(np.full((4, 4), np.nan, np.float32), image)
    with pytest.raises(ValueError, match="at least 2x2"):
        predictor(np.ones((1, 4), np.float32), image)
    with pytest.raises(ValueError, match="smaller than the depth"):
        predictor(np.ones((32, 32), np.float32), image)


def test_load_builds_the_predictor_from_a_card(tmp_path):
    torch.manual_seed(0)
    model = DepthJBU(JBUConfig.named("tiny"))
    path = save_weights(model, "jbu", {"recipe": "jbu", "command": "test", "data": "none",
                                       "seed": 0, "wall_time_s": 0.0, "metrics": {},
                                       "model_config": model.config.to_dict()}, tmp_path)
    predictor = edgegeo.load("jbu", weights=path)
    assert isinstance(predictor, JBUPredictor)
    assert predictor.model.config == JBUConfig.named("tiny")   # from the card
    out = predictor(np.full((8, 10), 2.0, np.float32), np.zeros((32, 40, 3), np.uint8))
    np.testing.assert_allclose(out, 2.0, rtol=1e-5)
    with pytest.raises(ValueError, match="do not fit"):
        edgegeo.load("jbu", weights=path, config="x4")


@pytest.mark.skipif(not (edgegeo.weights_io.WEIGHTS_DIR / "jbu.safetensors").is_file(),
                    reason="no shipped jbu weights")
def test_shipped_weights_load_and_upsample():
    from edgegeo.weights_io import load_model_card

    card = load_model_card("jbu")
    assert not card.get("smoke") and card["metrics"]["eval"]["rmse_m"] > 0
    predictor = edgegeo.load("jbu")
    image = np.zeros((40, 48, 3), np.uint8)
    image[:, 24:] = 255
    depth = np.full((10, 12), 2.0, np.float32)
    depth[:, 6:] = 4.0
    out = predictor(depth, image)
    assert out.shape == (40, 48)
    assert abs(out[:, :20].mean() - 2.0) < 0.05 and abs(out[:, 28:].mean() - 4.0) < 0.05
