"""MVSNet: outputs at four scales inside the depth range, both cost volumes, source-order
invariance, gradients reaching every parameter, configs."""
import numpy as np
import pytest
import torch

from edgegeo.models.mvs import MVSNet, MVSNetConfig
from edgegeo.models.mvs.metadata import metadata_channels

H, W = 32, 64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def inputs(config: MVSNetConfig, batch: int = 2, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    S = config.num_sources
    ref = torch.rand(batch, 3, H, W, generator=generator)
    src = torch.rand(batch, S, 3, H, W, generator=generator)
    K = torch.tensor([[60.0, 0, (W - 1) / 2], [0, 60.0, (H - 1) / 2], [0, 0, 1]])
    poses = torch.eye(4).repeat(batch, S, 1, 1)
    poses[..., 0, 3] = torch.linspace(-0.2, 0.3, S)
    poses[..., 2, 3] = 0.05 * torch.rand(batch, S, generator=generator)
    return ref, src, K.expand(batch, 3, 3), K.expand(batch, S, 3, 3), poses


@pytest.mark.parametrize("mode", ["metadata", "dot"])
def test_depth_at_four_scales_positive_and_in_range(mode):
    config = MVSNetConfig.tiny(cost_volume=mode, min_depth=0.3, max_depth=6.0)
    torch.manual_seed(0)
    model = MVSNet(config).eval()
    with torch.no_grad():
        out = model(*inputs(config))
    assert [tuple(d.shape) for d in out["depth"]] == [
        (2, 1, H, W), (2, 1, H // 2, W // 2), (2, 1, H // 4, W // 4), (2, 1, H // 8, W // 8)]
    assert out["cost_volume"].shape == (2, config.num_planes, H // 4, W // 4)
    for depth, log_depth in zip(out["depth"], out["log_depth"]):
        assert torch.isfinite(depth).all() and (depth > 0).all()
        assert depth.min() >= 0.3 * (1 - 1e-6) and depth.max() <= 6.0 * (1 + 1e-6)
        np.testing.assert_allclose(depth, log_depth.exp(), rtol=1e-6)
    assert model.depth_planes[0].item() == pytest.approx(0.3)
    assert model.depth_planes[-1].item() == pytest.approx(6.0)


def test_output_range_is_reached_at_the_sigmoid_extremes():
    config = MVSNetConfig.tiny()
    model = MVSNet(config).eval()
    for bias, want in ((1e3, config.max_depth), (-1e3, config.min_depth)):
        for head in model.network.decoder.heads:
            torch.nn.init.zeros_(head.weight)
            torch.nn.init.constant_(head.bias, bias)
        with torch.no_grad():
            depth = model(*inputs(config, batch=1))["depth"]
        for d in depth:
            np.testing.assert_allclose(d, want, rtol=1e-5)


def test_source_order_does_not_matter():
    config = MVSNetConfig.tiny(num_sources=3)
    torch.manual_seed(1)
    model = MVSNet(config).eval()
    ref, src, K, K_src, poses = inputs(config)
    permutation = [2, 0, 1]
    with torch.no_grad():
        a = model(ref, src, K, K_src, poses)["depth"][0]
        b = model(ref, src[:, permutation], K, K_src[:, permutation],
                  poses[:, permutation])["depth"][0]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_padding_sources_are_accepted():
    config = MVSNetConfig.tiny(num_sources=3)
    model = MVSNet(config).eval()
    ref, src, K, K_src, poses = inputs(config)
    valid = torch.tensor([[True, True, False], [True, False, False]])
    with torch.no_grad():
        out = model(ref, src, K, K_src, poses, valid)
        # What a padding source holds does not matter.
        src2 = src.clone()
        src2[0, 2] = torch.rand(3, H, W)
        out2 = model(ref, src2, K, K_src, poses, valid)
    np.testing.assert_allclose(out["depth"][0][0], out2["depth"][0][0], rtol=1e-6)


@pytest.mark.parametrize("mode", ["metadata", "dot"])
def test_every_parameter_gets_a_gradient(mode):
    """DDP needs every parameter used in the forward pass."""
    config = MVSNetConfig.tiny(cost_volume=mode)
    model = MVSNet(config).train()
    out = model(*inputs(config))
    sum(d.mean() for d in out["depth"]).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_sources_may_be_larger_than_a_reference_crop():
    """A reference crop against whole source frames (how the recipe trains): away from the
    crop's border (the matching encoder's receptive field, 31 px) its cost volume is the whole
    frame's, cut at the same place."""
    config = MVSNetConfig.tiny(num_sources=2)
    torch.manual_seed(2)
    model = MVSNet(config).eval()
    generator = torch.Generator().manual_seed(3)
    full_h, full_w, crop_h, crop_w, top, left = 96, 128, 64, 96, 16, 24
    ref = torch.rand(1, 3, full_h, full_w, generator=generator)
    src = torch.rand(1, 2, 3, full_h, full_w, generator=generator)
    K = torch.tensor([[[90.0, 0, (full_w - 1) / 2], [0, 90.0, (full_h - 1) / 2], [0, 0, 1]]])
    K_src = K.unsqueeze(1).expand(1, 2, 3, 3)
    poses = torch.eye(4).repeat(1, 2, 1, 1)
    poses[0, :, 0, 3] = torch.tensor([0.1, -0.2])
    K_crop = K.clone()
    K_crop[:, 0, 2] -= left
    K_crop[:, 1, 2] -= top
    with torch.no_grad():
        whole = model(ref, src, K, K_src, poses)["cost_volume"]
        part = model(ref[..., top:top + crop_h, left:left + crop_w], src, K_crop, K_src, poses)
    assert part["depth"][0].shape == (1, 1, crop_h, crop_w)
    cut = whole[..., top // 4:(top + crop_h) // 4, left // 4:(left + crop_w) // 4]
    inner = (..., slice(5, -5), slice(5, -5))
    assert cut[inner].numel() >= 8 * 6 * 14
    np.testing.assert_allclose(part["cost_volume"][inner], cut[inner], rtol=1e-4, atol=1e-5)


def test_bad_inputs():
    config = MVSNetConfig.tiny()
    model = MVSNet(config)
    ref, src, K, K_src, poses = inputs(config)
    with pytest.raises(ValueError, match="multiple of 32"):
        model(ref[..., :40], src[..., :40], K, K_src, poses)
    with pytest.raises(ValueError, match="src_images must be"):
        model(ref, src[:, :1], K, K_src[:, :1], poses[:, :1])


def test_the_edge_config_is_simplerecons_cost_volume():
    config = MVSNetConfig.small()
    assert (config.num_sources, config.num_planes, config.matching_channels) == (7, 64, 16)
    assert (config.min_depth, config.max_depth) == (0.25, 8.0)
    model = MVSNet(config)
    assert model.cost_volume.mlp.in_channels == metadata_channels(16, 7) == 202
    widths = [m.out_features for m in model.cost_volume.mlp.layers if hasattr(m, "out_features")]
    assert widths == [128, 128, 1]
    params = sum(p.numel() for p in model.parameters())
    assert 3e6 < params < 6e6                          # edge-sized: about 4.1 M
    assert sum(p.numel() for p in MVSNet(MVSNetConfig.small(cost_volume="dot")).parameters()) \
        == params - sum(p.numel() for p in model.cost_volume.parameters())


def test_config_round_trip_and_validation():
    config = MVSNetConfig.tiny(cost_volume="dot", max_depth=5.0)
    assert MVSNetConfig.from_dict(config.to_dict()) == config
    import json
    assert MVSNetConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert MVSNetConfig.named("small") == MVSNetConfig()
    with pytest.raises(ValueError, match="unknown mvs config"):
        MVSNetConfig.named("huge")
    with pytest.raises(ValueError, match="unknown fields"):
        MVSNetConfig.from_dict({"planes": 3})
    with pytest.raises(ValueError, match="cost_volume"):
        MVSNetConfig(cost_volume="variance")
    with pytest.raises(ValueError, match="min_depth < max_depth"):
        MVSNetConfig(min_depth=2.0, max_depth=1.0)
    with pytest.raises(ValueError, match="num_planes"):
        MVSNetConfig(num_planes=1)
    with pytest.raises(ValueError, match="image_channels"):
        MVSNetConfig(image_channels=(8, 8))
    with pytest.raises(ValueError, match="image_size"):
        MVSNetConfig(image_size=(100, 128))


def test_config_from_a_recipe_config():
    recipe = {"model": "small", "cost_volume": "dot", "num_views": 5, "num_planes": 32,
              "depth_range": [0.5, 6], "mlp_hidden": [64], "image_size": [96, 128], "lr": 1e-3}
    want = MVSNetConfig(cost_volume="dot", num_sources=4, num_planes=32, min_depth=0.5,
                        max_depth=6.0, mlp_hidden=(64,), image_size=(96, 128))
    assert MVSNetConfig.from_recipe(recipe) == want
    assert MVSNetConfig.from_recipe({"model": "tiny"}) == MVSNetConfig.tiny()
    with pytest.raises(ValueError, match="not an mvs recipe config"):
        MVSNetConfig.from_recipe({"lr": 1e-3})


def test_untrained_planes_network_answers_with_the_volume_soft_argmin():
    """The planes decoder's heads start at zero: before training its 1/4 depth is the soft-argmin
    of the volume's own logits and the finer scales its bilinear ×2 upsamplings — following the
    volume is where the network starts."""
    from edgegeo.models.mvs.network import soft_argmin

    torch.manual_seed(0)
    config = MVSNetConfig.tiny(cost_volume="correlation", decoder="planes")
    model = MVSNet(config).eval()
    B, S, H, W = 1, config.num_sources, 64, 96
    K = torch.tensor([[[60.0, 0, 47.5], [0, 60.0, 31.5], [0, 0, 1]]])
    poses = torch.eye(4).repeat(B, S, 1, 1)
    poses[:, :, 0, 3] = torch.tensor([0.1, -0.2])
    with torch.no_grad():
        out = model(torch.rand(B, 3, H, W), torch.rand(B, S, 3, H, W), K, K.repeat(1, S, 1, 1),
                    poses)
    assert set(out) >= {"volume_logits", "plane_logits", "confidence", "cost_volume"}
    np.testing.assert_allclose(out["plane_logits"], out["volume_logits"])
    expected, confidence = soft_argmin(out["volume_logits"], torch.log(model.depth_planes))
    np.testing.assert_allclose(out["log_depth"][2], expected, atol=1e-6)
    np.testing.assert_allclose(out["confidence"], confidence)
    upsampled = expected
    for scale in (1, 0):                                                # 1/2, then full
        upsampled = torch.nn.functional.interpolate(upsampled, scale_factor=2.0,
                                                    mode="bilinear", align_corners=False)
        np.testing.assert_allclose(out["log_depth"][scale], upsampled, atol=1e-5)
    assert out["depth"][0].shape == (B, 1, H, W)
    assert ((out["depth"][0] >= config.min_depth) & (out["depth"][0] <= config.max_depth)).all()


def test_min_confidence_masks_depth_at_inference_only():
    torch.manual_seed(0)
    config = MVSNetConfig.tiny(cost_volume="correlation", decoder="planes", min_confidence=0.2)
    model = MVSNet(config)
    B, S, H, W = 1, config.num_sources, 64, 96
    K = torch.tensor([[[60.0, 0, 47.5], [0, 60.0, 31.5], [0, 0, 1]]])
    poses = torch.eye(4).repeat(B, S, 1, 1)
    poses[:, :, 0, 3] = torch.tensor([0.1, -0.2])
    args = (torch.rand(B, 3, H, W), torch.rand(B, S, 3, H, W), K, K.repeat(1, S, 1, 1), poses)
    with torch.no_grad():
        model.eval()
        masked = model(*args)
        model.train()
        unmasked = model(*args)["depth"][0]
        model.eval()
    confidence = torch.nn.functional.interpolate(masked["confidence"], size=(H, W),
                                                 mode="bilinear", align_corners=False)
    low = confidence < 0.2
    assert low.any() and (~low).any()
    assert (masked["depth"][0][low] == 0).all() and (masked["depth"][0][~low] > 0).all()
    assert (unmasked > 0).all()
    with pytest.raises(ValueError, match="min_confidence"):
        MVSNetConfig.tiny(min_confidence=0.2)                     # the depth decoder has none
    with pytest.raises(ValueError, match="min_confidence"):
        MVSNetConfig.tiny(decoder="planes", min_confidence=1.5)


def local_inputs(config: MVSNetConfig):
    B, S, H, W = 1, config.num_sources, 64, 96
    K = torch.tensor([[[60.0, 0, 47.5], [0, 60.0, 31.5], [0, 0, 1]]])
    poses = torch.eye(4).repeat(B, S, 1, 1)
    poses[:, :, 0, 3] = torch.tensor([0.1, -0.2])
    generator = torch.Generator().manual_seed(1)
    return (torch.rand(B, 3, H, W, generator=generator),
            torch.rand(B, S, 3, H, W, generator=generator), K, K.repeat(1, S, 1, 1), poses)


def test_the_local_volume_starts_as_the_identity_on_earlier_weights():
    """The ½-resolution local volume's output layer starts at zero: added to trained planes
    weights (a warm start) the depth is unchanged at every scale until it learns."""
    torch.manual_seed(0)
    planes = MVSNet(MVSNetConfig.tiny(cost_volume="correlation", decoder="planes")).eval()
    local = MVSNet(MVSNetConfig.tiny(cost_volume="correlation", decoder="planes",
                                     fine_channels=4)).eval()
    missing, unexpected = local.load_state_dict(planes.state_dict(), strict=False)
    assert not unexpected
    assert missing and all(k.startswith(("matching_encoder.fine.", "local_refine."))
                           for k in missing)
    with torch.no_grad():
        before, after = planes(*local_inputs(planes.config)), local(*local_inputs(local.config))
    for a, b in zip(before["depth"], after["depth"]):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    radius = local.config.local_radius
    assert after["local_logits"].shape == (1, 2 * radius + 1, 32, 48)
    np.testing.assert_allclose(after["local_center"], before["log_depth"][1], atol=1e-6)
    step = local.local_refine.step
    assert step == pytest.approx(0.5 * float(torch.log(local.depth_planes[1]
                                                        / local.depth_planes[0])))


def test_the_local_volume_moves_depth_toward_the_hypothesis_it_prefers():
    """Logits peaked on hypothesis k move the ½ log depth by (k − R)·δ, and the full-resolution
    depth by the same change (bilinearly upsampled), inside the depth range."""
    torch.manual_seed(0)
    config = MVSNetConfig.tiny(cost_volume="correlation", decoder="planes", fine_channels=4,
                               local_radius=2)
    model = MVSNet(config).eval()
    with torch.no_grad():
        plain = model(*local_inputs(config))
        model.local_refine.net[-1].bias.copy_(torch.tensor([0, 0, 0, 0, 30.0]))   # k = +2
        moved = model(*local_inputs(config))
    step = model.local_refine.step
    shift = moved["log_depth"][1] - plain["log_depth"][1]
    inside = plain["log_depth"][1] < np.log(config.max_depth) - 2 * step - 1e-4
    assert inside.any()
    np.testing.assert_allclose(shift[inside], 2 * step, rtol=1e-4)
    assert (moved["depth"][0] >= plain["depth"][0] * (1 - 1e-6)).all()
    assert moved["depth"][0].max() <= config.max_depth * (1 + 1e-6)


def test_local_volume_config_checks():
    assert MVSNetConfig.named("local").fine_channels == 16
    assert MVSNetConfig.named("local").decoder == "planes"
    with pytest.raises(ValueError, match="planes decoder"):
        MVSNetConfig.tiny(fine_channels=4)                          # the depth decoder
    with pytest.raises(ValueError, match="local_step"):
        MVSNetConfig.tiny(decoder="planes", fine_channels=4, local_step=0)
    config = MVSNetConfig.local(local_radius=3)
    assert MVSNetConfig.from_dict(config.to_dict()) == config
