"""The mono-depth recipes end to end at smoke size: `edgegeo train mono-depth-teacher` then
`edgegeo train mono-depth` (student, ablations), loadable weights, `edgegeo eval mono`."""
import json

import numpy as np
import pytest
import torch
from skimage import data

import edgegeo
from edgegeo.cli import main
from edgegeo.training.config import make_config
from edgegeo.models.mono_depth import MonoDepthNet
from edgegeo.training.mono.model import card_network_config, parse_model_spec
from edgegeo.training.recipes import get_recipe


@pytest.fixture(scope="module")
def teacher_weights(tmp_path_factory):
    out = tmp_path_factory.mktemp("mono_teacher")
    assert main(["train", "mono-depth-teacher", "--smoke", "--out", str(out)]) == 0
    return out / "mono-depth-teacher.safetensors"


@pytest.fixture(scope="module")
def student_weights(tmp_path_factory, teacher_weights):
    out = tmp_path_factory.mktemp("mono_student")
    assert main(["train", "mono-depth", "--smoke", "--out", str(out),
                 "--set", f"teacher={teacher_weights}"]) == 0
    return out / "mono-depth.safetensors"


def _check_card_and_predictor(weights, name):
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["recipe"] == name and card["smoke"] is True
    assert {"val_abs_rel", "val_a125"} <= set(card["metrics"]["eval"])
    assert card_network_config(weights) == parse_model_spec("tiny")
    predictor = edgegeo.load("mono-depth", weights=weights, config=card_network_config(weights),
                             resolution=32)
    photo = data.coffee()                                   # a training photo, (400, 600, 3)
    disparity = predictor(photo)
    assert disparity.shape == photo.shape[:2] and disparity.dtype == np.float32
    assert disparity.min() >= 0 and np.isfinite(disparity).all()


def test_teacher_smoke_gives_loadable_weights(teacher_weights):
    _check_card_and_predictor(teacher_weights, "mono-depth-teacher")


def test_student_smoke_gives_loadable_weights(student_weights, teacher_weights):
    _check_card_and_predictor(student_weights, "mono-depth")
    card = json.loads(student_weights.with_suffix(".json").read_text())
    scalars = card["metrics"]["train"]
    assert {"train/labelled", "train/unlabelled", "train/feature"} <= set(scalars)
    assert str(teacher_weights) in card["data"]
    # The card carries the architecture and the working resolution: edgegeo.load needs nothing else.
    predictor = edgegeo.load("mono-depth", weights=student_weights)
    assert predictor.resolution == card["predictor_options"]["resolution"] == card["config"]["eval_resolution"]
    assert predictor(data.astronaut()).shape == (512, 512)


def test_student_is_trained_from_scratch_not_from_the_teacher(student_weights,
                                                              teacher_weights):
    recipe = get_recipe("mono-depth")
    cfg = make_config(recipe.config_cls, smoke_overrides=recipe.smoke_overrides,
                      overrides=[f"teacher={teacher_weights}"])
    torch.manual_seed(cfg.seed)
    student = recipe.build_model(cfg)
    teacher = recipe.teacher(cfg)
    assert isinstance(student, MonoDepthNet)
    assert not torch.equal(student.encoder.patch_embed.weight,
                           teacher.encoder.patch_embed.weight)
    assert not any(p.requires_grad for p in teacher.parameters())
    warm = make_config(recipe.config_cls, smoke_overrides=recipe.smoke_overrides,
                       overrides=[f"teacher={teacher_weights}", f"init={teacher_weights}"])
    started = recipe.build_model(warm)                  # the budget option: start at the teacher
    assert all(torch.equal(a, b) for a, b in zip(started.state_dict().values(),
                                                 teacher.state_dict().values()))
    assert recipe.model_card(started, warm)["init_from"]["weights"] == str(teacher_weights)


@pytest.mark.parametrize("flags", [("perturb=false",), ("feature_align=false",)])
def test_ablation_losses(teacher_weights, flags):
    recipe = get_recipe("mono-depth")
    cfg = make_config(recipe.config_cls, smoke_overrides=recipe.smoke_overrides,
                      overrides=[f"teacher={teacher_weights}", "batch_size=6", *flags])
    torch.manual_seed(0)
    model = recipe.build_model(cfg)
    batch = next(recipe.build_data(cfg, 0, 1, 0, 0))
    assert batch["image"].shape[0] == 2 and batch["unlabelled"].shape[0] == 4
    loss, scalars = recipe.loss(model, batch, cfg)
    loss.backward()
    assert torch.isfinite(loss)
    labelled = scalars["labelled"] + cfg.gradient_weight * scalars["gradient"]
    if "perturb=false" in flags:
        assert scalars["cutmix_fraction"] == 0
        torch.testing.assert_close(loss, labelled + scalars["unlabelled"] + scalars["feature"])
    else:
        assert scalars["feature"] == 0
        torch.testing.assert_close(loss, labelled + scalars["unlabelled"])


def test_config_validation():
    recipe = get_recipe("mono-depth")
    with pytest.raises(ValueError, match="multiple of 3"):
        make_config(recipe.config_cls, overrides=["batch_size=8"])
    with pytest.raises(ValueError, match="crop_size"):
        make_config(recipe.config_cls, overrides=["crop_size=100,160"])
    with pytest.raises(ValueError, match="model spec"):
        make_config(recipe.config_cls, overrides=["model=huge"])
    with pytest.raises(ValueError, match="style_p"):
        make_config(recipe.config_cls, overrides=["style_p=1.5"])


def test_eval_mono_on_tiny_data(teacher_weights, student_weights, tmp_path, monkeypatch,
                                capsys):
    bench = tmp_path / "benchmarks.md"
    monkeypatch.setenv("EDGEGEO_BENCH_FILE", str(bench))
    figure = tmp_path / "mono.png"
    assert main(["eval", "mono", "--model", f"teacher={teacher_weights}",
                 "--model", f"CNN student (smoke)={student_weights}",
                 "--test-data", str(tmp_path / "test"), "--test-scenes", "1",
                 "--resolution", "32", "--repeats", "1", "--figure", str(figure),
                 "--record"]) == 0
    out = capsys.readouterr().out
    for row in ("teacher", "CNN student (smoke)", "constant disparity", "row prior"):
        assert row in out
    assert (tmp_path / "test" / "scene_001000" / "meta.npz").is_file()   # rendered on demand
    assert figure.is_file() and figure.stat().st_size < 300_000
    text = bench.read_text()
    assert "<!-- bench:mono-depth -->" in text and "Motorcycle AbsRel" in text
    assert "student beats its teacher on real images" in text      # the claim, stated


def test_eval_keeps_the_stereo_benchmark():
    from edgegeo.cli import build_parser
    from edgegeo.cli.eval import run_mono, run_stereo

    parser = build_parser()
    assert parser.parse_args(["eval", "stereo", "--record"]).func is run_stereo
    assert parser.parse_args(["eval", "mono", "--record"]).func is run_mono
