"""The training engine end to end on the tiny recipe: exact resume, refusal to clobber runs,
the `edgegeo train` command, its weights, model card and logs."""
import dataclasses
import hashlib
import json
import sys

import pytest
import torch
from safetensors import safe_open

import _tiny_recipe
from edgegeo.cli import main
from edgegeo.training.config import TrainConfig
from edgegeo.training.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from edgegeo.training.engine import train
from edgegeo.training.logger import TrainLogger
from edgegeo.training.recipes import get_recipe
from edgegeo.training.seeding import seed_everything
from edgegeo.weights_io import load_model_card, load_weights

TINY = _tiny_recipe.TinyConfig(steps=8, warmup_steps=2, batch_size=4, image_size=8, width=4,
                               log_every=2, image_every=0, checkpoint_every=3, device="cpu")


def _initial_model(cfg):
    seed_everything(cfg.seed)
    return get_recipe("tiny").build_model(cfg)


def _scalars(run_dir):
    lines = (run_dir / "scalars.jsonl").read_text().splitlines()
    return {entry["step"]: entry for entry in map(json.loads, lines)}


def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(tmp_path):
    recipe = get_recipe("tiny")
    straight = train(recipe, TINY, tmp_path / "a", command="straight")
    first = train(recipe, TINY, tmp_path / "b", stop_after=5, command="first")
    assert (first.step, first.finished, first.weights_path) == (5, False, None)
    assert load_checkpoint(checkpoint_path(tmp_path / "b"))["step"] == 5
    assert not (tmp_path / "b" / "tiny.safetensors").exists()
    resumed = train(recipe, TINY, tmp_path / "b", resume=True, command="second")
    assert resumed.finished and resumed.step == 8

    final_a, final_b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)
    initial = _initial_model(TINY).state_dict()
    assert not torch.equal(initial["0.weight"], final_a["0.weight"])
    assert torch.equal(load_weights(straight.weights_path)["0.weight"],
                       load_weights(resumed.weights_path)["0.weight"])

    logged_a, logged_b = _scalars(tmp_path / "a"), _scalars(tmp_path / "b")
    assert sorted(logged_a) == [2, 4, 6, 8] and sorted(logged_b) == [2, 4, 5, 6, 8]
    for step in (2, 4, 8):
        assert logged_a[step]["train/loss"] == logged_b[step]["train/loss"]
    card = load_model_card(resumed.weights_path)
    assert card["command"] == "first" and card["resume_commands"] == ["second"]
    assert card["wall_time_s"] >= first.wall_time_s


def test_a_run_folder_is_never_silently_overwritten_or_resumed_with_another_config(tmp_path):
    recipe = get_recipe("tiny")
    train(recipe, TINY, tmp_path, stop_after=2)
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        train(recipe, TINY, tmp_path)
    other_lr = dataclasses.replace(TINY, lr=1e-2)
    with pytest.raises(ValueError, match=r"lr: 0.0003 → 0.01"):
        train(recipe, other_lr, tmp_path, resume=True)
    quieter = dataclasses.replace(TINY, log_every=4)
    assert train(recipe, quieter, tmp_path, resume=True, stop_after=4).step == 4
    with pytest.raises(ValueError, match="needs a TinyConfig"):
        train(recipe, TrainConfig(), tmp_path / "x")


def test_training_learns_the_task(tmp_path):
    cfg = _tiny_recipe.TinyConfig(steps=80, warmup_steps=5, lr=2e-2, batch_size=8, image_size=8,
                                  log_every=20, image_every=0, checkpoint_every=80, dropout=0.0)
    recipe = get_recipe("tiny")
    with torch.no_grad():
        before = recipe.evaluate(_initial_model(cfg).eval(), cfg)["val_l1"]
    result = train(recipe, cfg, tmp_path)
    assert result.metrics["eval"]["val_l1"] < 0.2 * before


def test_bf16_autocast_on_cpu_trains_close_to_fp32(tmp_path):
    recipe = get_recipe("tiny")
    runs = {precision: train(recipe, dataclasses.replace(TINY, precision=precision),
                             tmp_path / precision)
            for precision in ("fp32", "bf16")}
    assert load_model_card(runs["bf16"].weights_path)["precision"] == "bf16"
    loss = {p: r.metrics["train"]["train/loss"] for p, r in runs.items()}
    assert loss["bf16"] != loss["fp32"] and loss["bf16"] == pytest.approx(loss["fp32"], rel=2e-2)


def test_smoke_command_writes_fp16_weights_a_model_card_and_logs(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "tiny", "--smoke", "--out", str(out),
                 "--recipe-module", "_tiny_recipe"]) == 0
    assert "trained tiny: 6 steps" in capsys.readouterr().out

    card = json.loads((out / "tiny.json").read_text())
    assert card["command"] == f"edgegeo train tiny --smoke --out {out} --recipe-module _tiny_recipe"
    assert card["recipe"] == "tiny" and card["smoke"] is True and card["seed"] == 0
    assert card["steps"] == 6 and card["world_size"] == 1 and card["precision"] == "fp32"
    assert card["config"]["image_size"] == 8 and card["data"].startswith("uniform random 8x8")
    assert card["model_config"] == {"width": card["config"]["width"]}  # the recipe's entries
    assert set(card["metrics"]) == {"train", "eval"} and card["metrics"]["eval"]["val_l1"] > 0
    assert card["wall_time_s"] > 0 and card["machine"]["torch"] == torch.__version__
    assert card["commit"] is None or len(card["commit"]["sha"]) == 40
    weights = out / "tiny.safetensors"
    assert card["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()

    with safe_open(str(weights), framework="pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
    state = load_weights(weights)
    assert all(t.dtype == torch.float32 for t in state.values())
    cfg = _tiny_recipe.TinyConfig(image_size=8, width=4)
    model = get_recipe("tiny").build_model(cfg)
    model.load_state_dict(state)
    assert card["num_parameters"] == sum(p.numel() for p in model.parameters())

    assert sorted(_scalars(out)) == [2, 4, 6]
    assert {"train/loss", "train/max_error", "train/grad_norm", "train/lr",
            "perf/steps_per_s"} <= set(_scalars(out)[6])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert "train/loss" in events.Tags()["scalars"]
    assert [e.step for e in events.Scalars("train/loss")] == [2, 4, 6]
    assert sorted(events.Tags()["images"]) == ["input", "prediction"]
    assert [e.step for e in events.Images("input")] == [3, 6]


@pytest.mark.parametrize("argv, message", [
    (["train", "nope"], "unknown recipe 'nope'"),
    (["train"], "name a RECIPE"),
    (["train", "tiny", "--smoke", "--set", "lr=fast"], "override 'lr=fast'"),
    (["train", "tiny", "--recipe-module", "no_such_module_xyz"], "no_such_module_xyz"),
])
def test_train_command_reports_bad_input_in_one_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_train_command_lists_recipes(capsys):
    assert main(["train", "--list", "--recipe-module", "_tiny_recipe"]) == 0
    assert "tiny" in capsys.readouterr().out.split()


def test_checkpoints_are_replaced_atomically_and_validated(tmp_path):
    path = tmp_path / "checkpoints" / "last.pt"
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.AdamW(model.parameters())
    for step in (1, 2):
        save_checkpoint(path, recipe="tiny", step=step, model=model, optimizer=optimizer,
                        scaler=torch.amp.GradScaler("cpu", enabled=False),
                        config={"lr": 1.0}, world_size=1, train_time_s=0.5, commands=["c"],
                        last_scalars={"train/loss": 0.1})
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]
    assert load_checkpoint(path)["step"] == 2
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an edgegeo training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_logger_degrades_without_tensorboard_and_drops_entries_past_the_resume_step(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)   # as if not installed
    logger = TrainLogger(tmp_path, enabled=True)
    assert "tensorboard is not installed" in capsys.readouterr().err
    for step in range(1, 5):
        logger.scalars(step, {"train/loss": float(step)})
    logger.images(4, {"input": torch.zeros(1, 3, 2, 2)})
    logger.close()
    assert not (tmp_path / "tensorboard").exists()
    TrainLogger(tmp_path, enabled=True, start_step=2).close()
    assert sorted(_scalars(tmp_path)) == [1, 2]
    TrainLogger(tmp_path / "rank1", enabled=False).scalars(1, {"x": 1.0})
    assert not (tmp_path / "rank1").exists()
