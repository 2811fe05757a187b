"""The ``stereo`` recipe: its loss, its data, and a smoke run end to end (card, held-out curve
with its baselines, loadable weights, ``edgegeo stereo``)."""
import dataclasses
import json

import numpy as np
import pytest
import torch

import edgegeo
from edgegeo.cli import main
from edgegeo.data.synthetic.layered_stereo import LayeredStereoConfig, layered_stereo_pair
from edgegeo.data.synthetic.materials import PRINT_PHOTOS
from edgegeo.data.synthetic.textures import EVALUATION_ONLY_PHOTOS, PHOTOS
from edgegeo.models.stereo import CostVolumeStereo, StereoConfig
from edgegeo.training.stereo.data import (PhotometricJitter, jitter_view,
                                          stereo_training_batch)
from edgegeo.training.recipes.stereo import warm_start
from edgegeo.training.stereo.losses import (local_cross_entropy, selection_cross_entropy,
                                            stereo_loss, volume_cross_entropy)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_volume_cross_entropy_is_lowest_at_the_true_shift():
    target = torch.full((1, 1, 16, 16), 8 * 2.25)         # 2.25 shifts at ⅛
    mask = torch.ones_like(target, dtype=torch.bool)
    scores = []
    for peak in range(6):
        logits = torch.full((1, 6, 2, 2), -10.0)
        logits[:, peak] = 10.0
        scores.append(float(volume_cross_entropy(logits, target, mask)))
    assert int(np.argmin(scores)) == 2
    soft = torch.full((1, 6, 2, 2), -10.0)
    soft[:, 2], soft[:, 3] = np.log(0.75) + 10, np.log(0.25) + 10
    assert float(volume_cross_entropy(soft, target, mask)) < min(scores)


def test_loss_supervises_every_level_and_ignores_out_of_range_gt():
    target = torch.full((1, 1, 32, 32), 8.0)
    target[..., :4] = 500.0                               # beyond the network's range
    valid = target > 0
    out = {"logits8": torch.zeros(1, 4, 4, 4, requires_grad=True),
           **{name: torch.full((1, 1, 32 // f, 32 // f), 8.0 / f, requires_grad=True)
              for name, f in (("d8", 8), ("d4", 4), ("d2", 2), ("disparity", 1))},
           **{f"logits{f}": torch.zeros(1, 5, 32 // f, 32 // f, requires_grad=True)
              for f in (4, 2)},
           **{f"base{f}": torch.full((1, 1, 32 // f, 32 // f), 8.0 / f) for f in (4, 2)},
           "log_scale": torch.zeros(1, 1, 32, 32, requires_grad=True)}
    loss, parts = stereo_loss(out, target, valid, max_disparity=32, local_weight=0.5)
    assert float(parts["epe"]) == 0 and float(parts["sl1_d8"]) == 0
    loss.backward()
    assert all(value.grad is not None for value in out.values() if value.requires_grad)
    assert float(out["d2"].grad.abs().sum()) == 0        # exact levels: no pull
    assert float(out["logits8"].grad.abs().sum()) > 0    # a flat volume is pushed to the GT
    assert float(out["logits2"].grad.abs().sum()) > 0    # so are the local volumes
    assert float(parts["local_ce4"]) == pytest.approx(np.log(5))


def test_local_cross_entropy_is_lowest_at_the_tap_of_the_gt_residual():
    target = torch.full((1, 1, 8, 8), 2 * 3.5)             # 3.5 px at ½ resolution
    mask = torch.ones_like(target, dtype=torch.bool)
    base = torch.full((1, 1, 4, 4), 2.5)                    # GT residual +1 → tap R + 1 = 3
    scores = []
    for peak in range(5):
        logits = torch.full((1, 5, 4, 4), -10.0)
        logits[:, peak] = 10.0
        scores.append(float(local_cross_entropy(logits, base, target, mask, factor=2)))
    assert int(np.argmin(scores)) == 3
    far = torch.full((1, 1, 4, 4), 20.0)                    # GT beyond the radius: left out
    assert float(local_cross_entropy(torch.zeros(1, 5, 4, 4), far, target, mask, 2)) == 0


def test_selection_cross_entropy_is_lowest_at_the_candidate_nearest_the_gt():
    target = torch.full((1, 1, 8, 8), 4 * 6.0)               # 6 px at ¼ resolution
    mask = torch.ones_like(target, dtype=torch.bool)
    candidates = torch.arange(10, dtype=torch.float32).view(1, 10, 1, 1).expand(1, 10, 2, 2)
    scores = []
    for peak in range(10):
        logits = torch.full((1, 10, 2, 2), -10.0)
        logits[:, peak] = 10.0
        scores.append(float(selection_cross_entropy(logits, candidates, target, mask, 4)))
    assert int(np.argmin(scores)) == 6
    out = CostVolumeStereo(StereoConfig.named("tiny"))(torch.rand(1, 3, 64, 96),
                                                      torch.rand(1, 3, 64, 96), intermediates=True)
    _, parts = stereo_loss(out, torch.full((1, 1, 64, 96), 5.0),
                           torch.ones(1, 1, 64, 96, dtype=torch.bool), 32)
    assert {"select_ce4", "select_ce2"} <= set(parts)


def test_warm_start_adds_the_selection_stages_to_weights_without_them():
    plain = dataclasses.replace(StereoConfig.named("tiny"), propagate=False)
    earlier = CostVolumeStereo(plain)
    model = warm_start(CostVolumeStereo(StereoConfig.named("tiny")), earlier.state_dict(),
                       "earlier")
    torch.testing.assert_close(model.refine4.net[0][0].weight, earlier.refine4.net[0][0].weight)


def test_warm_start_adds_the_full_resolution_stage_to_earlier_weights():
    plain = dataclasses.replace(StereoConfig.named("tiny"), fine_channels=0)
    torch.manual_seed(0)
    earlier = CostVolumeStereo(plain).eval()
    model = warm_start(CostVolumeStereo(StereoConfig.named("tiny")), earlier.state_dict(),
                       "earlier").eval()
    left, right = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(model(left, right), earlier(left, right))
    with pytest.raises(ValueError, match="does not fit"):
        warm_start(CostVolumeStereo(plain), model.state_dict(), "later")     # extra tensors
    wider = dataclasses.replace(plain, channels=(8, 8, 16))
    with pytest.raises(ValueError, match="does not fit"):
        warm_start(CostVolumeStereo(wider), earlier.state_dict(), "narrower")


def test_training_batches_mix_sources_and_jitter_each_view():
    batch = stereo_training_batch(4, (32, 64), seed=3, pairs=None, layered_share=1.0,
                                  layered=LayeredStereoConfig(max_disparity=24.0),
                                  layered_min_disparity=4.0, scale_range=(1.0, 1.0),
                                  jitter=PhotometricJitter())
    assert batch["left"].shape == batch["right"].shape == (4, 3, 32, 64)
    assert batch["left"].dtype == torch.float32
    assert 0 <= float(batch["left"].min()) and float(batch["left"].max()) <= 1
    assert batch["disparity"].shape == (4, 1, 32, 64) and batch["valid"].all()
    assert float(batch["disparity"].max()) <= 24.0
    again = stereo_training_batch(4, (32, 64), seed=3, pairs=None, layered_share=1.0,
                                  layered=LayeredStereoConfig(max_disparity=24.0),
                                  layered_min_disparity=4.0, scale_range=(1.0, 1.0),
                                  jitter=PhotometricJitter())
    assert torch.equal(batch["left"], again["left"])     # seeded: resumable
    rng = np.random.default_rng(0)
    view = np.full((16, 16, 3), 128, np.uint8)
    a, b = jitter_view(rng, view, PhotometricJitter()), jitter_view(rng, view, PhotometricJitter())
    assert a.dtype == np.float32 and not np.allclose(a, b)


def test_layered_pairs_can_have_thin_bars_and_holes():
    rng = np.random.default_rng(5)
    thin = LayeredStereoConfig(max_disparity=32.0, layers=(3, 3), thin_share=1.0)
    _, _, disparity = layered_stereo_pair(rng, 64, 96, thin)
    near = disparity > np.percentile(disparity, 5) + 1     # anything in front of the background
    # thin structures: many narrow runs along rows rather than a few wide blobs
    changes = np.abs(np.diff(near.astype(np.int8), axis=1)).sum()
    assert changes > 40
    with pytest.raises(ValueError, match="thin_share"):
        LayeredStereoConfig(thin_share=2.0)


def test_the_evaluation_image_is_no_texture():
    assert "motorcycle" not in PHOTOS and "motorcycle" not in PRINT_PHOTOS
    assert not set(EVALUATION_ONLY_PHOTOS) & set(PHOTOS)


@pytest.fixture(scope="module")
def smoke_weights(tmp_path_factory):
    out = tmp_path_factory.mktemp("stereo")
    assert main(["train", "stereo", "--smoke", "--out", str(out)]) == 0
    return out / "stereo.safetensors"


def test_smoke_run_card_curve_and_load(smoke_weights, tmp_path):
    card = json.loads(smoke_weights.with_suffix(".json").read_text())
    assert card["recipe"] == "stereo" and card["smoke"] is True
    assert StereoConfig.from_dict(card["model_config"]) == StereoConfig.named("tiny")
    evaluation = card["metrics"]["eval"]
    for kind in ("rendered", "layered"):
        for method in ("", "_constant", "_sgbm"):
            assert np.isfinite(evaluation[f"{kind}{method}_epe"])
    curve = [json.loads(line) for line in
             (smoke_weights.parent / "scalars.jsonl").read_text().splitlines()]
    assert any("val/layered_sgbm_bad2" in row for row in curve)
    predictor = edgegeo.load("stereo", weights=smoke_weights, check_rectification=False)
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    assert predictor(left, np.roll(left, -2, axis=1)).shape == (40, 60)
    from edgegeo.viz import save_png
    save_png(tmp_path / "l.png", left)
    save_png(tmp_path / "r.png", np.roll(left, -2, axis=1))
    assert main(["stereo", str(tmp_path / "l.png"), str(tmp_path / "r.png"), "-o",
                 str(tmp_path / "d.npy"), "--weights", str(smoke_weights),
                 "--no-rectification-check"]) == 0
    assert np.load(tmp_path / "d.npy").shape == (40, 60)


def test_eval_stereo_runs_the_model_torch_and_exported_with_latency(smoke_weights, tmp_path,
                                                                    capsys, monkeypatch):
    monkeypatch.setenv("EDGEGEO_CACHE", str(tmp_path / "cache"))
    assert main(["eval", "stereo", "--model", f"smoke={smoke_weights}", "--exported", "smoke",
                 "--latency", "--repeats", "1", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    for row in ("| smoke |", "| smoke (ORT fp32) |", "| smoke (ORT int8) |", "741×500 (ms)",
                "640×480 (ms)", "| SGBM (defaults) |"):
        assert row in printed


def test_benchmark_lists_every_run_behind_warm_started_weights():
    from edgegeo.bench.stereo import training_stages

    card = {"recipe": "stereo", "steps": 5000, "wall_time_s": 2700,
            "init_from": {"weights": "w.safetensors", "command": "edgegeo train stereo --out r",
                          "steps": 13000, "wall_time_s": 7200}}
    assert training_stages(card) == ["stereo 13000 steps 120 min", "stereo 5000 steps 45 min"]
