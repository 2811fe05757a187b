"""ViT encoder, DPT decoder and MonoDepthNet: shapes, non-negativity, normalisation, configs."""
import json

import pytest
import torch

from edgegeo.models.common import IMAGENET_MEAN, IMAGENET_STD
from edgegeo.models.layers.dpt import DPTDecoder
from edgegeo.models.layers.vit import ViTConfig, ViTEncoder
from edgegeo.models.mono_depth import (NAMED_CONFIGS, MonoDepthNet, MonoDepthNetConfig,
                                       count_parameters)

SIZES = [(32, 32), (48, 80), (80, 48), (112, 16)]      # multiples of 16, odd and even grids


def tiny_config(position="learned") -> MonoDepthNetConfig:
    return MonoDepthNetConfig.sized(embed_dim=32, depth=4, num_heads=2, features=16,
                                    head_features=8, position=position)


@pytest.mark.parametrize("position", ["learned", "rope"])
@pytest.mark.parametrize("size", SIZES)
def test_vit_returns_requested_blocks(position, size):
    encoder = ViTEncoder(ViTConfig(patch_size=16, embed_dim=32, depth=4, num_heads=2,
                                   position=position, pos_grid=(3, 4))).eval()
    with torch.no_grad():
        tokens = encoder(torch.randn(2, 3, *size), blocks=(3, 0, 2))
    count = (size[0] // 16) * (size[1] // 16)
    assert [t.shape for t in tokens] == [(2, count, 32)] * 3
    assert not torch.allclose(tokens[0], tokens[1])
    # Final LayerNorm (unit weight, zero bias at init): every token zero-mean, unit variance.
    torch.testing.assert_close(tokens[0].mean(-1), torch.zeros(2, count), atol=1e-5, rtol=0)


def test_vit_block_order_and_duplicates():
    encoder = ViTEncoder(ViTConfig(patch_size=8, embed_dim=16, depth=3, num_heads=2)).eval()
    images = torch.randn(1, 3, 16, 24)
    with torch.no_grad():
        first, last, first_again = encoder(images, blocks=(0, 2, 0))
        (only_last,) = encoder(images, blocks=(2,))
    torch.testing.assert_close(first, first_again)
    torch.testing.assert_close(last, only_last)


def test_vit_rope_encoder_has_no_position_parameters():
    rope = ViTEncoder(ViTConfig(embed_dim=32, depth=1, num_heads=2, position="rope"))
    learned = ViTEncoder(ViTConfig(embed_dim=32, depth=1, num_heads=2, pos_grid=(4, 5)))
    assert count_parameters(learned) - count_parameters(rope) == 32 * 4 * 5
    assert not any("rope" in key for key in rope.state_dict())


def test_vit_bad_input():
    encoder = ViTEncoder(ViTConfig(patch_size=16, embed_dim=16, depth=2, num_heads=2))
    with pytest.raises(ValueError, match="multiple of the patch size 16"):
        encoder(torch.zeros(1, 3, 40, 32), blocks=(1,))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        encoder(torch.zeros(1, 1, 32, 32), blocks=(1,))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        encoder(torch.zeros(1, 3, 32, 32), blocks=(2,))


@pytest.mark.parametrize("grid", [(1, 1), (3, 5), (4, 4), (7, 2)])
def test_dpt_output_size_and_sign(grid):
    decoder = DPTDecoder(24, (6, 12, 24, 48), features=16, head_features=8).eval()
    tokens = [torch.randn(2, grid[0] * grid[1], 24) for _ in range(4)]
    out_size = (grid[0] * 16, grid[1] * 16)
    with torch.no_grad():
        out = decoder(tokens, grid, out_size)
    assert out.shape == (2, 1, *out_size)
    assert out.min() >= 0


@pytest.mark.parametrize("position", ["learned", "rope"])
def test_mono_depth_shapes_and_non_negative(position):
    torch.manual_seed(0)
    model = MonoDepthNet(tiny_config(position)).eval()
    for size in SIZES:
        with torch.no_grad():
            out = model(torch.rand(2, 3, *size))
        assert out.shape == (2, 1, *size) and out.dtype == torch.float32
        assert out.min() >= 0
        assert out.std() > 0                               # a map, not a constant


def test_normalisation_is_inside_the_model():
    torch.manual_seed(0)
    model = MonoDepthNet(tiny_config()).eval()
    images = torch.rand(1, 3, 32, 48)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        tokens = model.encoder((images - mean) / std, model.config.tap_blocks)
        expected = model.decoder(tokens, (2, 3), (32, 48))
        torch.testing.assert_close(model(images), expected)
    assert set(model.state_dict()).isdisjoint({"mean", "std"})   # constants, not weights


@pytest.mark.parametrize("seed", range(4))
def test_final_relu_starts_active_so_gradients_flow(seed):
    torch.manual_seed(seed)
    model = MonoDepthNet(tiny_config())
    out = model(torch.rand(1, 3, 32, 32))
    assert out.min() > 0
    out.mean().backward()
    assert model.encoder.blocks[0].attn.qkv.weight.grad.abs().sum() > 0


def test_bad_image_size_names_the_patch():
    model = MonoDepthNet(tiny_config())
    with pytest.raises(ValueError, match="not a multiple of the patch size 16"):
        model(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(3, 32, 32))


def test_named_configs_and_small_budget():
    for name in NAMED_CONFIGS:
        assert isinstance(MonoDepthNetConfig.named(name), MonoDepthNetConfig)
    small = MonoDepthNetConfig.small()
    assert (small.encoder.patch_size, small.encoder.embed_dim, small.encoder.depth,
            small.encoder.num_heads, small.features) == (16, 192, 12, 3, 64)
    assert small.tap_blocks == (2, 5, 8, 11)
    assert small.reassemble_channels == (48, 96, 192, 384)
    assert 7e6 < count_parameters(MonoDepthNet(small)) <= 10e6
    with pytest.raises(ValueError, match="tiny, small, base"):
        MonoDepthNetConfig.named("huge")


def test_config_round_trips_through_json():
    config = tiny_config("rope")
    assert MonoDepthNetConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="not a mono-depth model config"):
        MonoDepthNetConfig.from_dict({"features": 3})


def test_bad_configs():
    with pytest.raises(ValueError, match="tap_blocks"):
        MonoDepthNetConfig(tap_blocks=(2, 5, 8, 12))
    with pytest.raises(ValueError, match="divisible by num_heads"):
        ViTConfig(embed_dim=100, num_heads=3)
    with pytest.raises(ValueError, match="divisible by 4"):
        ViTConfig(embed_dim=60, num_heads=2, position="rope")
    with pytest.raises(ValueError, match="position"):
        ViTConfig(position="sinusoidal")
