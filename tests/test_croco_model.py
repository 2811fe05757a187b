"""CroCo pre-training network: masking, patches, loss, and the reconstruction forward pass."""
import pytest
import torch

from edgegeo.models.croco import (CroCoConfig, CroCoNet, patchify, random_visible,
                                  unpatchify)
from edgegeo.models.layers.rope import Rope2D, apply_rope_2d
from edgegeo.training.croco.losses import masked_patch_loss, normalised_patches


def test_patchify_round_trip_and_layout():
    images = torch.rand(2, 3, 16, 24)
    patches = patchify(images, 8)
    assert patches.shape == (2, 6, 8 * 8 * 3)
    # Patch 4 = row 1, column 1; its first value is pixel (8, 8), channel 0.
    assert patches[1, 4, 0] == images[1, 0, 8, 8]
    assert torch.equal(unpatchify(patches, 8, (2, 3)), images)


def test_random_visible_keeps_ten_percent_sorted_and_distinct():
    visible = random_visible(4, 192, 0.9, torch.Generator().manual_seed(0))
    assert visible.shape == (4, 19)
    for row in visible:
        assert torch.equal(row, row.sort().values) and len(set(row.tolist())) == 19
        assert 0 <= row.min() and row.max() < 192
    assert not torch.equal(visible[0], visible[1])          # a fresh mask per sample
    with pytest.raises(ValueError, match="mask_ratio"):
        random_visible(1, 10, 1.0)


def test_normalised_patches_have_zero_mean_unit_variance():
    out = normalised_patches(torch.rand(2, 5, 48) * 3 + 1)
    assert torch.allclose(out.mean(-1), torch.zeros(2, 5), atol=1e-5)
    assert torch.allclose(out.var(-1), torch.ones(2, 5), atol=1e-3)


def test_masked_loss_ignores_visible_patches():
    target = torch.rand(1, 4, 12)
    prediction = normalised_patches(target).clone()
    visible = torch.tensor([[1, 3]])
    prediction[0, 1] += 5.0                           # wrong, but visible: not scored
    assert masked_patch_loss(prediction, target, visible) == pytest.approx(0.0, abs=1e-10)
    prediction[0, 0] += 1.0                           # masked and off by 1 everywhere
    assert masked_patch_loss(prediction, target, visible) == pytest.approx(0.5, rel=1e-5)


def test_croconet_predicts_every_view1_patch():
    torch.manual_seed(0)
    model = CroCoNet(CroCoConfig.tiny()).eval()
    view1, view2 = torch.rand(2, 3, 32, 48), torch.rand(2, 3, 32, 48)
    visible = random_visible(2, 24, 0.9, torch.Generator().manual_seed(1))
    out = model(view1, view2, visible)
    assert out.shape == (2, 24, 8 * 8 * 3) and torch.isfinite(out).all()
    # The masked view-1 pixels do not reach the prediction: only visible patches are encoded.
    hidden = view1.clone()
    mask = torch.ones(2, 24, dtype=torch.bool).scatter(1, visible, False)
    pixels = patchify(hidden, 8)
    pixels[mask] = 0.0
    assert torch.allclose(model(unpatchify(pixels, 8, (4, 6)), view2, visible), out, atol=1e-6)
    # View 2 does.
    assert not torch.allclose(model(view1, torch.rand_like(view2), visible), out, atol=1e-4)


def test_croco_decoder_depends_on_relative_positions_only():
    """2-D RoPE on both attention sides: shifting every query and key position by the same
    offset leaves cross-attention scores unchanged (CroCo v2's relative encoding)."""
    rope = Rope2D(16)
    q, k = torch.randn(1, 2, 5, 16), torch.randn(1, 2, 7, 16)
    pos_q, pos_k = torch.rand(5, 2) * 10, torch.rand(7, 2) * 10
    shift = torch.tensor([3.0, -7.0])
    scores = apply_rope_2d(q, *rope(pos_q)) @ apply_rope_2d(k, *rope(pos_k)).transpose(-1, -2)
    shifted = (apply_rope_2d(q, *rope(pos_q + shift))
               @ apply_rope_2d(k, *rope(pos_k + shift)).transpose(-1, -2))
    assert torch.allclose(scores, shifted, atol=1e-4)


def test_croco_config_errors():
    with pytest.raises(ValueError, match="divisible by 4"):
        CroCoConfig(enc_dim=30, enc_heads=3)
    with pytest.raises(ValueError, match="unknown croco config"):
        CroCoConfig.named("huge")
    assert CroCoConfig.from_dict(CroCoConfig.small().to_dict()) == CroCoConfig.small()
    with pytest.raises(ValueError, match="patch size"):
        CroCoNet(CroCoConfig.tiny())(torch.rand(1, 3, 30, 48), torch.rand(1, 3, 30, 48),
                                     torch.zeros(1, 1, dtype=torch.long))


def test_croconet_exports_to_onnx_with_the_mask_as_an_input(tmp_path):
    import warnings

    import numpy as np
    import onnx
    import onnxruntime as ort

    torch.manual_seed(0)
    model = CroCoNet(CroCoConfig.tiny()).eval()
    view1, view2 = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    visible = random_visible(1, 24, 0.75, torch.Generator().manual_seed(0))
    path = tmp_path / "croco.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (view1, view2, visible), str(path), dynamo=False,
                          opset_version=17, input_names=["view1", "view2", "visible"],
                          output_names=["patches"],
                          dynamic_axes={"view1": {2: "height", 3: "width"},
                                        "view2": {2: "height", 3: "width"},
                                        "visible": {1: "kept"}, "patches": {1: "patches"}})
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    view1, view2 = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 48, 64)
    visible = random_visible(1, 48, 0.9, torch.Generator().manual_seed(1))
    got = session.run(None, {"view1": view1.numpy(), "view2": view2.numpy(),
                             "visible": visible.numpy()})[0]
    with torch.no_grad():
        expected = model(view1, view2, visible).numpy()
    assert np.abs(got - expected).max() / np.abs(expected).max() < 1e-4


def test_load_croco_completes_a_view(tmp_path):
    import numpy as np
    from skimage import data

    import edgegeo
    from edgegeo.weights_io import save_weights

    model = CroCoNet(CroCoConfig.tiny())
    card = {"recipe": "croco", "command": "test", "data": "none", "seed": 0, "wall_time_s": 0.0,
            "metrics": {}, "model_config": CroCoConfig.tiny().to_dict()}
    save_weights(model.state_dict(), "croco", card, tmp_path)
    completer = edgegeo.load("croco", weights=tmp_path / "croco.safetensors", mask_ratio=0.5)
    photo = data.astronaut()
    masked, rebuilt = completer(photo[:70, :100], photo[10:80, 20:120])
    assert masked.shape == rebuilt.shape == (64, 96, 3) and rebuilt.dtype == np.uint8
    kept = (masked != 128).any(-1)                 # visible patches are copied exactly
    assert np.array_equal(rebuilt[kept], photo[:64, :96][kept])


def test_cross_attention_weights_are_the_ones_forward_uses():
    from edgegeo.models.croco.network import CrossAttention

    torch.manual_seed(0)
    attention = CrossAttention(16, 2)
    rope = Rope2D(8)
    pos_x = torch.rand(1, 5, 2) * 4
    pos_y = torch.rand(1, 7, 2) * 4
    x, y = torch.randn(1, 5, 16), torch.randn(1, 7, 16)
    weights = attention.weights(x, y, rope(pos_x), rope(pos_y))
    assert weights.shape == (1, 2, 5, 7)
    assert torch.allclose(weights.sum(-1), torch.ones(1, 2, 5))
    values = attention.kv(y)[..., 16:].reshape(1, 7, 2, 8).transpose(1, 2)
    mixed = (weights @ values).transpose(1, 2).reshape(1, 5, 16)
    assert torch.allclose(attention.proj(mixed), attention(x, y, rope(pos_x), rope(pos_y)),
                          atol=1e-5)
