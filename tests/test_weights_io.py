"""Shipped weights: fp16 safetensors + model card, loaded back as float32."""
import hashlib
import json

import pytest
import torch
from safetensors import safe_open
from torch import nn

from edgegeo.weights_io import (available_weights, git_commit, load_model_card, load_weights,
                                machine_description, save_weights, ship_weights)

CARD = {"recipe": "tiny", "command": "edgegeo train tiny", "data": "random images", "seed": 3,
        "wall_time_s": 1.5, "metrics": {"val_l1": 0.25}}


def _model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 4))
    model[1].num_batches_tracked += 7
    return model


def test_round_trip_stores_fp16_and_loads_float32(tmp_path):
    model = _model()
    path = save_weights(model, "tiny", CARD, tmp_path)
    assert path == tmp_path / "tiny.safetensors"
    with safe_open(str(path), framework="pt") as f:
        dtypes = {key: f.get_slice(key).get_dtype() for key in f.keys()}
    assert dtypes["0.weight"] == "F16" and dtypes["1.running_var"] == "F16"
    assert dtypes["1.num_batches_tracked"] == "I64"

    loaded = load_weights("tiny", weights_dir=tmp_path)
    assert loaded.keys() == model.state_dict().keys()
    for key, original in model.state_dict().items():
        if original.is_floating_point():
            assert loaded[key].dtype == torch.float32
            assert torch.equal(loaded[key], original.half().float())
    assert loaded["1.num_batches_tracked"].item() == 7
    assert torch.equal(load_weights(path)["3.bias"], loaded["3.bias"])   # by path too


def test_card_records_the_run_and_the_machine(tmp_path):
    path = save_weights(_model(), "tiny", CARD, tmp_path)
    card = json.loads((tmp_path / "tiny.json").read_text())
    assert {k: card[k] for k in CARD} == CARD
    assert card["name"] == "tiny" and card["weights"] == "tiny.safetensors"
    assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert card["num_parameters"] == (3 * 4 * 9 + 4) + (4 + 4) + (4 * 4 + 4)
    assert card["num_tensors"] == 2 + 5 + 2             # BatchNorm: 2 parameters, 3 buffers
    assert card["machine"]["torch"] == torch.__version__ and card["machine"]["cpu_count"] >= 1
    assert card["created_utc"].endswith("+00:00")
    assert card == load_model_card("tiny", weights_dir=tmp_path)


def test_tied_weights_are_saved(tmp_path):
    model = nn.Sequential(nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False))
    model[1].weight = model[0].weight
    model.half()                                   # fp16 already: saving must still copy
    save_weights(model.state_dict(), "tied", CARD, tmp_path)
    loaded = load_weights("tied", weights_dir=tmp_path)
    assert torch.equal(loaded["0.weight"], loaded["1.weight"])


@pytest.mark.parametrize("name, card, message", [
    ("Tiny", CARD, "lower-case"),
    ("tiny", {k: v for k, v in CARD.items() if k not in ("seed", "data")},
     "lacks ['data', 'seed']"),
    ("tiny", {**CARD, "metrics": 0.5}, "metrics must be a dict"),
])
def test_bad_names_and_incomplete_cards_are_refused(tmp_path, name, card, message):
    with pytest.raises(ValueError) as info:
        save_weights(_model(), name, card, tmp_path)
    assert message in str(info.value)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="state dict is empty"):
        save_weights({}, "tiny", CARD, tmp_path)


def test_missing_weights_name_what_is_available(tmp_path):
    save_weights(_model(), "stereo", CARD, tmp_path)
    save_weights(_model(), "mono-depth", CARD, tmp_path)
    assert available_weights(tmp_path) == ["mono-depth", "stereo"]
    with pytest.raises(FileNotFoundError, match="available in .*: mono-depth, stereo"):
        load_weights("mvs", weights_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="available in .*: none"):
        load_weights("mvs", weights_dir=tmp_path / "empty")
    (tmp_path / "stereo.json").unlink()
    with pytest.raises(FileNotFoundError, match="no model card"):
        load_model_card("stereo", weights_dir=tmp_path)
    assert load_model_card("stereo", weights_dir=tmp_path, missing_ok=True) == {}
    assert load_model_card(tmp_path / "mvs.safetensors", missing_ok=True) == {}
    assert load_model_card(tmp_path / "mono-depth.safetensors", missing_ok=True)["seed"] == 3


def test_commit_and_machine_descriptions(tmp_path):
    assert git_commit(tmp_path) is None                     # not a git checkout
    commit = git_commit()
    assert commit is None or (len(commit["sha"]) == 40 and isinstance(commit["dirty"], bool))
    assert {"os", "cpu", "cpu_count", "python", "torch"} <= set(machine_description())


def test_ship_weights_copies_a_real_run_and_refuses_smoke_runs(tmp_path):
    run = save_weights(_model(), "tiny", CARD, tmp_path / "run")
    shipped = ship_weights(run, name="tiny-shipped", dest=tmp_path / "weights")
    assert shipped.read_bytes() == run.read_bytes()
    card = load_model_card(shipped)
    assert card["weights"] == "tiny-shipped.safetensors" and card["shipped_from"] == str(run)
    assert card["metrics"] == CARD["metrics"]
    smoke = save_weights(_model(), "smoky", {**CARD, "smoke": True}, tmp_path / "smoke")
    with pytest.raises(ValueError, match="smoke"):
        ship_weights(smoke, dest=tmp_path / "weights")

