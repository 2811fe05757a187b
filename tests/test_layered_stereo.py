"""Procedural layered stereo pairs: exact disparity (the right view warped back by the GT lands
on the left view wherever nothing occludes), seeded, no evaluation image used as a texture, and
the stereo recipe trains on them alone or mixed with rendered pairs."""
import json

import cv2
import numpy as np
import pytest

from edgegeo.cli import main
from edgegeo.data.synthetic.layered_stereo import (LAYER_PHOTOS, LayeredStereoConfig,
                                                   layered_stereo_pair)
from edgegeo.training.croco.data import layered_stereo_batch
from edgegeo.training.recipes.stereo import StereoTrainConfig

# Magnified textures: smooth enough that bilinear resampling is exact to a few levels.
CLEAN = LayeredStereoConfig(noise_sigma=0.0, gain_jitter=0.0, plain_share=0.0,
                            texture_scale=(0.25, 0.5))


def _left_from_right(right: np.ndarray, disparity: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0:disparity.shape[0], 0:disparity.shape[1]].astype(np.float32)
    return cv2.remap(right, xs - disparity, ys, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE).astype(np.float64)


@pytest.mark.parametrize("seed", range(4))
def test_right_view_warped_by_gt_disparity_is_the_left_view(seed):
    left, right, disparity = layered_stereo_pair(np.random.default_rng(seed), 96, 160, CLEAN)
    assert left.shape == right.shape == (96, 160, 3) and left.dtype == right.dtype == np.uint8
    assert disparity.shape == (96, 160) and disparity.dtype == np.float32
    assert disparity.min() >= 0.5 - 1e-4
    assert disparity.max() <= CLEAN.max_disparity + CLEAN.max_slant * (96 + 160)
    seen = np.arange(160)[None, :] - disparity > 3             # inside the right view
    error = np.abs(_left_from_right(right, disparity) - left).mean(axis=2)[seen]
    # Occlusions (a few % of pixels) and resampling aside, the views agree ...
    assert np.median(error) < 2 and np.mean(error < 8) > 0.85
    # ... and a wrong disparity (off by 3 px) does not explain them.
    shifted = np.abs(_left_from_right(right, disparity + 3) - left).mean(axis=2)[seen]
    assert np.median(shifted) > 2 * np.median(error)


def test_pairs_are_seeded_and_disparities_vary_between_pairs():
    first = layered_stereo_pair(np.random.default_rng(3), 64, 96)
    again = layered_stereo_pair(np.random.default_rng(3), 64, 96)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    rng = np.random.default_rng(0)
    medians = [np.median(layered_stereo_pair(rng, 64, 96)[2]) for _ in range(12)]
    assert np.ptp(medians) > 5          # no typical disparity to fall back on


def test_motorcycle_is_never_a_texture():
    assert "motorcycle" not in LAYER_PHOTOS and len(LAYER_PHOTOS) > 5


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="max_disparity"):
        LayeredStereoConfig(max_disparity=0)
    with pytest.raises(ValueError, match="max_slant"):
        LayeredStereoConfig(max_slant=0.7)
    with pytest.raises(ValueError, match="layered_share=1"):
        StereoTrainConfig(train_data="layered", layered_share=0.5).validate()
    with pytest.raises(ValueError, match="layered_share"):
        StereoTrainConfig(layered_share=1.5).validate()


def test_batch_tensors():
    batch = layered_stereo_batch(3, (32, 48), seed=1)
    assert batch["left"].shape == batch["right"].shape == (3, 3, 32, 48)
    assert batch["disparity"].shape == batch["valid"].shape == (3, 1, 32, 48)
    assert batch["valid"].all() and 0 <= batch["left"].min() and batch["left"].max() <= 1


@pytest.mark.parametrize("extra", [["--set", "train_data=layered", "--set", "layered_share=1"],
                                   ["--set", "layered_share=0.5"]])
def test_stereo_smoke_trains_on_layered_pairs(tmp_path, extra):
    assert main(["train", "stereo", "--smoke", "--out", str(tmp_path), *extra]) == 0
    card = json.loads((tmp_path / "stereo.json").read_text())
    assert "procedural layered pairs" in card["data"]
    assert np.isfinite(card["metrics"]["train"]["train/epe"])
