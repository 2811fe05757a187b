"""The convolutional mono-depth variant: config, shapes, parameter budget, model-card round
trip, ONNX export with dynamic H/W (ONNX Runtime vs torch), and the teacher recipe training it
(gradient-matching loss, camera augmentation, learning curve)."""
import json
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

from edgegeo.models.mono_depth import (MonoDepthNet, MonoDepthNetConfig, MonoDepthPredictor,
                                       count_parameters)
from edgegeo.models.mono_depth.conv import ConvEncoderConfig


def test_cnn_config_budget_and_round_trip():
    config = MonoDepthNetConfig.named("cnn")
    assert config.convolutional and config.encoder.patch_size == 32
    assert count_parameters(MonoDepthNet(config)) == 4_329_185          # <= 10 M (issue 17)
    restored = MonoDepthNetConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    vit = MonoDepthNetConfig.small()                                    # ViT cards still load
    assert MonoDepthNetConfig.from_dict(json.loads(json.dumps(vit.to_dict()))) == vit
    with pytest.raises(ValueError, match="ViT settings"):
        MonoDepthNetConfig(ConvEncoderConfig())                         # taps left at ViT's
    with pytest.raises(ValueError, match="widths"):
        ConvEncoderConfig(widths=(8, 8, 8))


def test_cnn_forward_shapes_tokens_and_size_check():
    torch.manual_seed(0)
    model = MonoDepthNet(MonoDepthNetConfig.cnn_tiny()).eval()
    images = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        disparity, tokens = model(images, return_tokens=True)
    assert disparity.shape == (2, 1, 64, 96) and disparity.dtype == torch.float32
    assert float(disparity.min()) >= 0.0
    assert tokens.shape == (2, (64 // 32) * (96 // 32), 32)            # one token per 32² patch
    with pytest.raises(ValueError, match="multiple of the patch size 32"):
        model(torch.rand(1, 3, 48, 96))


def test_cnn_predictor_returns_image_size():
    torch.manual_seed(0)
    predictor = MonoDepthPredictor(MonoDepthNet(MonoDepthNetConfig.cnn_tiny()), resolution=64)
    image = (np.random.default_rng(0).random((50, 75, 3)) * 255).astype(np.uint8)
    out = predictor(image)
    assert out.shape == (50, 75) and out.dtype == np.float32 and out.min() >= 0


def test_cnn_onnx_matches_torch_at_other_sizes(tmp_path):
    torch.manual_seed(0)
    model = MonoDepthNet(MonoDepthNetConfig.cnn_tiny())
    model.train()
    with torch.no_grad():                       # non-trivial BatchNorm statistics
        for _ in range(3):
            model(torch.rand(2, 3, 64, 64))
    model.eval()
    path = tmp_path / "mono-cnn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.rand(1, 3, 64, 96),), str(path), dynamo=False,
                          opset_version=17, input_names=["image"], output_names=["disparity"],
                          dynamic_axes={"image": {2: "height", 3: "width"},
                                        "disparity": {2: "height", 3: "width"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for size in [(96, 128), (64, 160)]:          # neither is the export size
        image = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(size[1]))
        with torch.no_grad():
            expected = model(image).numpy()
        (got,) = session.run(None, {"image": image.numpy()})
        assert got.shape == (1, 1, *size)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_teacher_recipe_trains_cnn_with_curve(tmp_path):
    from edgegeo.cli import main

    out = tmp_path / "run"
    assert main(["train", "mono-depth-teacher", "--smoke", "--out", str(out),
                 "--set", "model=cnn-tiny", "--set", "crop_size=64,64",
                 "--set", "generate_size=64,96", "--set", "steps=4", "--set", "val_every=2",
                 "--set", "eval_resolution=64", "--set", "camera_augment=true",
                 "--set", "gradient_weight=0.5"]) == 0
    lines = [json.loads(line) for line in (out / "scalars.jsonl").read_text().splitlines()]
    curve = [line for line in lines if "val/rooms_vs_row_prior" in line]
    assert [line["step"] for line in curve] == [2, 4]
    assert all(np.isfinite(line["val/rooms_abs_rel"]) and line["val/rooms_vs_row_prior"] > 0
               for line in curve)
    assert any("train/gradient" in line for line in lines)
    card = json.loads((out / "mono-depth-teacher.json").read_text())
    assert MonoDepthNetConfig.from_dict(card["model_config"]) == MonoDepthNetConfig.cnn_tiny()
