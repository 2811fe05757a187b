"""Distributed data parallel: the unchanged `edgegeo train` command under torchrun with two
CPU processes (gloo) keeps the replicas identical."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

import _tiny_recipe
from edgegeo.training.checkpoint import checkpoint_path, load_checkpoint
from edgegeo.training.config import make_config
from edgegeo.training.distributed import parameter_digest
from edgegeo.training.engine import train
from edgegeo.training.recipes import get_recipe

TESTS_DIR = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun_train(recipe: str, out: Path) -> subprocess.CompletedProcess:
    """`edgegeo train RECIPE --smoke` under torchrun with 2 single-threaded CPU processes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR),
                                                       os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
               "-m", "edgegeo", "train", recipe, "--smoke", "--out", str(out),
               "--recipe-module", "_tiny_recipe", "--set", "device=cpu"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)


def test_two_processes_train_identical_replicas_on_both_ranks_data(tmp_path):
    out = tmp_path / "ddp"
    finished = _torchrun_train("tiny", out)
    assert finished.returncode == 0, finished.stderr[-4000:]

    card = json.loads((out / "tiny.json").read_text())
    assert card["world_size"] == 2 and card["global_batch_size"] == 2 * card["config"]["batch_size"]
    assert card["command"].startswith("torchrun --nnodes=1 --nproc_per_node=2 -m edgegeo train "
                                      "tiny --smoke")
    rank0, rank1 = card["replica_param_sha256"]
    assert rank0 == rank1                     # each rank hashed its own parameters

    recipe = get_recipe("tiny")
    cfg = make_config(_tiny_recipe.TinyConfig, smoke_overrides=recipe.smoke_overrides,
                      overrides=["device=cpu"])
    trained = recipe.build_model(cfg)
    trained.load_state_dict(load_checkpoint(checkpoint_path(out))["model"])
    assert parameter_digest(trained) == rank0
    single = train(recipe, cfg, tmp_path / "single").model
    torch.manual_seed(cfg.seed)
    initial = recipe.build_model(cfg)
    for name, param in trained.named_parameters():
        assert not torch.equal(param, initial.get_parameter(name)), f"{name} did not train"
    # Rank 1's batches count: the averaged update differs from one process on rank 0's data.
    assert any(not torch.equal(param, single.get_parameter(name))
               for name, param in trained.named_parameters())


def test_replicas_that_drift_apart_fail_the_run(tmp_path):
    drifted = _torchrun_train("tiny-bypassing-ddp", tmp_path / "drift")
    assert drifted.returncode != 0
    assert "model replicas diverged" in drifted.stderr
    assert not (tmp_path / "drift" / "tiny-bypassing-ddp.safetensors").exists()
