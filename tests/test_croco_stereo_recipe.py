"""The croco and stereo recipes end to end at smoke size: `edgegeo train croco` then
`edgegeo train stereo` initialised from it, loadable weights, `edgegeo stereo`."""
import json

import numpy as np
import pytest
import torch

import edgegeo
from edgegeo.cli import main
from edgegeo.models.croco import CroCoConfig
from edgegeo.models.croco_stereo import CroCoStereoConfig
from edgegeo.weights_io import load_weights


@pytest.fixture(scope="module")
def croco_weights(tmp_path_factory):
    out = tmp_path_factory.mktemp("croco")
    assert main(["train", "croco", "--smoke", "--out", str(out)]) == 0
    return out / "croco.safetensors"


@pytest.fixture(scope="module")
def stereo_weights(tmp_path_factory, croco_weights):
    out = tmp_path_factory.mktemp("stereo")
    assert main(["train", "croco-stereo", "--smoke", "--out", str(out),
                 "--set", f"init={croco_weights}"]) == 0
    return out / "croco-stereo.safetensors"


def test_croco_smoke_card_and_pictures(croco_weights):
    card = json.loads(croco_weights.with_suffix(".json").read_text())
    assert card["recipe"] == "croco" and card["smoke"] is True
    assert CroCoConfig.from_dict(card["model_config"]) == CroCoConfig.tiny()
    metrics = card["metrics"]["eval"]
    assert 0 < metrics["val_masked_mse"] < 3 and metrics["val_mean_patch_mse"] > 0.5
    assert any(k.startswith("backbone.enc_blocks") for k in load_weights(croco_weights))


def test_croco_mixes_in_stereo_pairs_and_restarts_from_weights(croco_weights, tmp_path):
    out = tmp_path / "more"
    assert main(["train", "croco", "--smoke", "--out", str(out), "--set", "stereo_data=generate",
                 "--set", "stereo_share=0.5", "--set", f"init={croco_weights}"]) == 0
    card = json.loads((out / "croco.json").read_text())
    assert "50% of samples rectified pairs" in card["data"]
    assert f"initialised from {croco_weights}" in card["data"]
    assert card["init_from"]["weights"] == str(croco_weights)
    assert card["init_from"]["command"].startswith("edgegeo train croco --smoke")
    assert card["metrics"]["eval"]["val_masked_mse_other_view2"] > 0
    assert main(["train", "croco", "--smoke", "--out", str(tmp_path / "x"),
                 "--set", "stereo_share=0.5"]) == 2


def test_stereo_smoke_starts_from_croco_and_loads(stereo_weights, croco_weights, tmp_path):
    card = json.loads(stereo_weights.with_suffix(".json").read_text())
    assert card["init"] == str(croco_weights)
    assert CroCoStereoConfig.from_dict(card["model_config"]) == CroCoStereoConfig.tiny()
    assert {"val_epe", "val_bad2"} <= set(card["metrics"]["eval"])
    assert card["predictor_options"]["tile_size"] == [32, 48]
    predictor = edgegeo.load("croco-stereo", weights=stereo_weights, check_rectification=False)
    assert predictor.tile_size == (32, 48)
    left = (np.random.default_rng(0).random((50, 90, 3)) * 255).astype(np.uint8)
    disparity = predictor(left, left)
    assert disparity.shape == (50, 90) and np.isfinite(disparity).all()


def test_stereo_cli_writes_pfm_and_png(stereo_weights, tmp_path, capsys):
    from skimage import data

    from edgegeo.data.pfm import read_pfm
    from edgegeo.viz import save_png

    photo = data.astronaut()
    left, right = tmp_path / "l.png", tmp_path / "r.png"
    save_png(left, photo[100:196, 110:270])
    save_png(right, photo[100:196, 120:280])           # 10 px of disparity everywhere
    assert main(["stereo", "--model", "croco-stereo", str(left), str(right), "-o", str(tmp_path / "d.pfm"),
                 "--weights", str(stereo_weights), "--confidence", str(tmp_path / "c.png")]) == 0
    assert read_pfm(tmp_path / "d.pfm").shape == (96, 160)
    assert (tmp_path / "c.png").is_file()
    assert main(["stereo", "--model", "croco-stereo", str(left), str(right), "-o", str(tmp_path / "d.png"),
                 "--weights", str(stereo_weights)]) == 0
    assert main(["stereo", "--model", "croco-stereo", str(left), str(right), "-o", str(tmp_path / "d.txt"),
                 "--weights", str(stereo_weights)]) == 2
    assert "must end in" in capsys.readouterr().err


def test_stereo_without_weights_names_the_training_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="edgegeo train croco-stereo"):
        edgegeo.load("croco-stereo", weights=tmp_path / "none.safetensors")
    torch.manual_seed(0)


def test_cross_view_and_attention_checks(croco_weights, tmp_path):
    from edgegeo.bench.stereo import attention_disparity_rows, cross_view_rows

    assert main(["data", "render", "--rig", "stereo", "--out", str(tmp_path), "--frames", "2",
                 "--width", "96", "--height", "64", "--seed", "1000"]) == 0   # a test seed
    rows = cross_view_rows(croco_weights, tmp_path, count=4, crop_hw=(32, 48))
    assert [row["pairs"] for row in rows] == [
        "CroCo-scored pairs (validation scenes), 4 crops",
        "rectified stereo pairs (test scenes), 4 crops"]
    for row in rows:
        values = [float(row[key]) for key in ("true view 2", "another pair's view 2",
                                              "mean patch")]
        assert all(0 < value < 3 for value in values)
    rows = attention_disparity_rows(croco_weights, tmp_path, count=2, crop_hw=(32, 48))
    assert [row["decoder block"] for row in rows] == [0, 1, 2]        # tiny: 3 blocks
    for row in rows:
        assert -1 <= float(row["correlation with GT"]) <= 1
        assert 0 < float(row["peak weight"]) <= 1 and float(row["error (px)"]) >= 0


def test_shifted_view_2_crops_move_inside_the_image():
    from edgegeo.training.croco.data import TwoViewImages, pair_batch

    height, width = 40, 60
    # Every pixel holds its own (row, column), so a crop shows where it was taken.
    rows, cols = np.mgrid[0:height, 0:width]
    image = np.stack([rows, cols, np.zeros_like(rows)], -1).astype(np.uint8)[None]
    pairs = TwoViewImages(image, image.copy(), None, "grid")
    batch = pair_batch(pairs, 64, (16, 24), seed=0, extra=pairs, extra_share=1.0,
                       extra_shift=8)

    def window_start(views):   # smallest (row, column) a crop shows, whatever flips it had
        return (views[:, :2].flatten(2) * 255).round().amin(-1)

    offsets = (window_start(batch["view2"]) - window_start(batch["view1"])).abs()
    assert offsets.max() <= 8 and (offsets > 0).any()
    same = pair_batch(pairs, 8, (16, 24), seed=0, extra=pairs, extra_share=1.0)
    assert torch.equal(window_start(same["view1"]), window_start(same["view2"]))
