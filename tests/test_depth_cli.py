"""``edgegeo depth``: a photo → colour-mapped PNG or raw .npy, with weights given by --weights."""
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from skimage import data

from edgegeo.cli import main
from edgegeo.data.images import load_image, save_image
from edgegeo.models.mono_depth import MonoDepthNet, MonoDepthNetConfig


@pytest.fixture(scope="module")
def photo_and_weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("depth_cli")
    photo = save_image(folder / "astronaut.png", data.astronaut())          # 512x512 RGB
    torch.manual_seed(0)
    weights = folder / "random.safetensors"
    save_file(MonoDepthNet(MonoDepthNetConfig.tiny()).state_dict(), str(weights))
    return photo, weights


def run_depth(photo, weights, out, *extra):
    return main(["depth", str(photo), "-o", str(out), "--weights", str(weights),
                 "--config", "tiny", "--resolution", "64", *extra])


def test_writes_npy_and_png(photo_and_weights, tmp_path, capsys):
    photo, weights = photo_and_weights
    assert run_depth(photo, weights, tmp_path / "d.npy") == 0
    disparity = np.load(tmp_path / "d.npy")
    assert disparity.shape == (512, 512) and disparity.dtype == np.float32
    assert disparity.min() >= 0 and disparity.std() > 0

    assert run_depth(photo, weights, tmp_path / "out" / "d.png") == 0
    picture = load_image(tmp_path / "out" / "d.png")
    assert picture.shape == (512, 512, 3)
    assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 10        # a colour map, not flat
    assert "512x512" in capsys.readouterr().out


def test_errors_are_one_line(photo_and_weights, tmp_path, capsys):
    photo, weights = photo_and_weights
    assert run_depth(photo, weights, tmp_path / "d.jpg") == 2
    assert ".png or .npy" in capsys.readouterr().err
    assert run_depth(photo, tmp_path / "none.safetensors", tmp_path / "d.png") == 2
    assert "none.safetensors" in capsys.readouterr().err
    assert run_depth(tmp_path / "missing.png", weights, tmp_path / "d.png") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgegeo depth: error:") and "\n" not in err
