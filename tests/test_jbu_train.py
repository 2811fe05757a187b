"""The JBU recipes: depth batches, the feature variant's jitter and attention downsampler,
and smoke training of ``jbu`` and ``jbu-features`` through ``edgegeo train``."""
import json

import numpy as np
import pytest
import torch

import edgegeo
from edgegeo.cli import main
from edgegeo.data.frame import Frame
from edgegeo.data.splits import TRAIN_SEEDS
from edgegeo.training.jbu.data import FrameSource, depth_batch, find_shards
from edgegeo.training.jbu.features import AttentionDownsampler, jitter, sample_jitter


def _frames(count=3, size=(48, 64)):
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(count):
        depth = np.full(size, 2.0, np.float32)
        depth[:, size[1] // 2:] = 4.0
        frames.append(Frame(rgb=rng.integers(0, 256, (*size, 3), dtype=np.uint8),
                            K=np.eye(3), depth=depth))
    return FrameSource(frames=frames)


def test_depth_batch_is_seeded_and_consistent():
    frames = _frames()
    batch = depth_batch(frames, 7, batch_size=3, crop=32, scale=4, noise_std=0.01,
                        hole_prob=1.0)
    again = depth_batch(frames, 7, batch_size=3, crop=32, scale=4, noise_std=0.01,
                        hole_prob=1.0)
    assert batch["image"].shape == (3, 3, 32, 32) and batch["depth"].shape == (3, 1, 32, 32)
    assert batch["depth_lr"].shape == (3, 1, 8, 8)
    for key in batch:
        torch.testing.assert_close(batch[key], again[key])
    low = batch["depth_lr"]
    assert (low == 0).any()                                   # holes
    valid = low[low > 0]
    assert valid.min() > 1.9 and valid.max() < 4.1            # noise is small


def test_find_shards_refuses_seeds_outside_the_split(tmp_path):
    (tmp_path / "scene_001000").mkdir()
    (tmp_path / "scene_001000" / "meta.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="scene seeds in"):
        find_shards(tmp_path, TRAIN_SEEDS, "training")
    assert find_shards(tmp_path / "missing", TRAIN_SEEDS, "training") == []


def test_jitter_moves_image_and_features_alike():
    image = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    params = sample_jitter(np.random.default_rng(1), 2, 1.8)
    identity = torch.tensor([[1.0, 0.5, 0.5, 0.0]] * 2)
    torch.testing.assert_close(jitter(image, identity, 0.0), image)
    flipped = jitter(image, torch.tensor([[1.0, 0.5, 0.5, 1.0]] * 2), 0.0)
    torch.testing.assert_close(flipped, image.flip(3))
    # features that are a per-pixel linear map of the image move exactly with it
    weight = torch.randn(5, 3)
    features = torch.einsum("oc,bchw->bohw", weight, image)
    torch.testing.assert_close(jitter(features, params, 0.125),
                               torch.einsum("oc,bchw->bohw", weight,
                                            jitter(image, params, 0.125)))


def test_attention_downsampler_averages_within_patches():
    down = AttentionDownsampler(4, 4)
    features = torch.randn(2, 4, 8, 12)
    out = down(features)
    assert out.shape == (2, 4, 2, 3)
    blocks = features.view(2, 4, 2, 4, 3, 4)
    assert (out <= blocks.amax((3, 5)) + 1e-5).all() and (out >= blocks.amin((3, 5)) - 1e-5).all()


@pytest.mark.parametrize("data", ["shards", "rendered"])
def test_smoke_training_of_the_depth_recipe(tmp_path, capsys, data):
    out = tmp_path / "jbu"
    # without shards on disk (a fresh clone) the recipe renders a few small scenes itself
    missing = [] if data == "shards" else ["--set", f"data_dir={tmp_path}/none",
                                           "--set", f"eval_dir={tmp_path}/none"]
    assert main(["train", "jbu", "--smoke", "--out", str(out), *missing]) == 0
    assert "trained jbu" in capsys.readouterr().out
    card = json.loads((out / "jbu.json").read_text())
    assert card["smoke"] is True and card["metrics"]["eval"]["rmse_m"] > 0
    assert "TRAIN seeds" in card["data"]
    predictor = edgegeo.load("jbu", weights=out / "jbu.safetensors")
    result = predictor(np.full((6, 8), 3.0, np.float32), np.zeros((24, 32, 3), np.uint8))
    np.testing.assert_allclose(result, 3.0, rtol=1e-5)


def test_smoke_training_of_the_feature_recipe(tmp_path):
    out = tmp_path / "jbu-features"
    assert main(["train", "jbu-features", "--smoke", "--out", str(out)]) == 0
    card = json.loads((out / "jbu-features.json").read_text())
    evaluation = card["metrics"]["eval"]
    assert {"mse_bilinear_attention", "mse_jbu_attention", "mse_jbu_average"} <= set(evaluation)
    assert "random:tiny" in card["data"]
    # the frozen encoder is not part of the trained weights
    from safetensors import safe_open
    with safe_open(str(out / "jbu-features.safetensors"), "pt") as weights:
        assert not [k for k in weights.keys() if "encoder" in k]
