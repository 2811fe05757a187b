"""edgegeo.load: the registry's errors, loading saved weights with their card's config, and a
cheap ``import edgegeo``."""
import subprocess
import sys

import numpy as np
import pytest
import torch

import edgegeo
from edgegeo.models import registry
from edgegeo.models.mono_depth import MonoDepthNet, MonoDepthNetConfig, MonoDepthPredictor
from edgegeo.weights_io import load_weights, save_weights

CARD = {"recipe": "test", "command": "pytest", "data": "none", "seed": 0, "wall_time_s": 0.0,
        "metrics": {}}


def test_unknown_model_lists_available():
    with pytest.raises(ValueError, match=r"unknown model 'depth'; available: .*mono-depth"):
        edgegeo.load("depth")
    assert "mono-depth" in registry.available_models()


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend 'openvino'.*torch, onnxruntime, tensorrt"):
        edgegeo.load("mono-depth", backend="openvino")


def test_missing_weights_name_the_file_and_the_training_command(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        edgegeo.load("mono-depth")
    message = str(info.value)
    assert str(tmp_path / "mono-depth.safetensors") in message
    assert "edgegeo train mono-depth" in message


@pytest.fixture
def saved_tiny(tmp_path):
    """A randomly initialised tiny model saved as shipped weights, its config on the card."""
    torch.manual_seed(0)
    model = MonoDepthNet(MonoDepthNetConfig.tiny())
    path = save_weights(model, "mono-depth",
                        {**CARD, "model_config": model.config.to_dict()}, out_dir=tmp_path)
    return model, path


def test_loads_weights_with_the_config_from_the_card(saved_tiny):
    model, path = saved_tiny
    predictor = edgegeo.load("mono-depth", weights=path, resolution=32)
    assert isinstance(predictor, MonoDepthPredictor)
    assert predictor.model.config == MonoDepthNetConfig.tiny()
    model.load_state_dict(load_weights(path))          # the same fp16-rounded weights
    image = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    np.testing.assert_array_equal(predictor(image), MonoDepthPredictor(model, resolution=32)(image))


def test_weights_that_do_not_fit_the_config(saved_tiny):
    _, path = saved_tiny
    with pytest.raises(ValueError, match="do not fit the 'mono-depth' config"):
        edgegeo.load("mono-depth", weights=path, config="small")
    with pytest.raises(ValueError, match="unknown mono-depth config 'medium'"):
        edgegeo.load("mono-depth", weights=path, config="medium")
    with pytest.raises(ValueError, match="device"):
        edgegeo.load("mono-depth", weights=path, device="tpu")


def test_every_model_folder_registers_itself():
    assert registry.available_models() == ["croco", "croco-stereo", "jbu", "mono-depth", "mvs",
                                           "stereo"]
    assert registry.get_entry("jbu").predictor.__name__ == "JBUPredictor"
    with pytest.raises(ValueError, match="'jbu' is registered twice"):
        registry.register_model("jbu", **vars(registry.get_entry("jbu")))


def test_create_network_from_the_config_the_card_or_the_default(saved_tiny):
    _, path = saved_tiny
    assert registry.create_network("mono-depth").config == MonoDepthNetConfig.named("small")
    assert registry.create_network("mono-depth", config="tiny").config == MonoDepthNetConfig.tiny()
    loaded = registry.create_network("mono-depth", weights=path)       # config from the card
    assert loaded.config == MonoDepthNetConfig.tiny()
    for key, value in load_weights(path).items():
        torch.testing.assert_close(loaded.state_dict()[key], value)


def test_import_edgegeo_does_not_import_torch():
    code = "import sys, edgegeo; assert callable(edgegeo.load); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
