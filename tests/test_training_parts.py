"""The engine's parts: schedule, optimiser groups, precision, seeding, data streams, image
grids, the recipe registry and the single-process distributed helpers."""
import math
import re
from collections import namedtuple

import pytest
import torch
from torch import nn

import _tiny_recipe  # noqa: F401  (registers "tiny")
from edgegeo.training.config import TrainConfig
from edgegeo.training.data import ShuffledBatchSampler, seeded_batches, to_device
from edgegeo.training.distributed import (DistContext, check_replicas_identical, launch_prefix,
                                          launch_ranks, parameter_digest)
from edgegeo.training.logger import image_grid
from edgegeo.training.optim import build_optimizer, split_decay
from edgegeo.training.precision import make_grad_scaler, resolve_precision
from edgegeo.training.recipes import Recipe, available_recipes, get_recipe, register_recipe
from edgegeo.training.schedule import warmup_cosine
from edgegeo.training.seeding import derive_seed, seed_step

CPU = torch.device("cpu")


# --- schedule ---------------------------------------------------------------------------------

def test_warmup_is_linear_then_cosine_reaches_the_floor_at_the_last_step():
    def lr(step):
        return warmup_cosine(step, base_lr=1.0, warmup_steps=4, total_steps=14, min_lr_ratio=0.1)

    assert [lr(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr(4) == 1.0                                   # cosine starts at the peak
    assert lr(9) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 5 / 9)))
    assert lr(13) == pytest.approx(0.1)                   # last step: the floor
    decay = [lr(s) for s in range(4, 14)]
    assert all(a > b for a, b in zip(decay, decay[1:]))
    with pytest.raises(ValueError, match="outside"):
        lr(14)
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_cosine(0, base_lr=1.0, warmup_steps=5, total_steps=5, min_lr_ratio=0.0)


def test_no_warmup_starts_at_base_lr():
    assert warmup_cosine(0, base_lr=2e-4, warmup_steps=0, total_steps=10,
                         min_lr_ratio=0.0) == 2e-4


# --- optimiser --------------------------------------------------------------------------------

def test_weight_decay_skips_biases_and_norms():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2),
                          nn.LayerNorm([2, 3]), nn.Embedding(5, 2))
    model[2].bias.requires_grad_(False)
    decay, no_decay = split_decay(model)
    assert decay == ["0.weight", "2.weight", "4.weight"]
    assert no_decay == ["0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]  # 2-D LayerNorm too
    optimizer = build_optimizer(model, TrainConfig(weight_decay=0.1, betas=(0.8, 0.9)))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert [p.shape for p in decayed["params"]] == [(4, 3, 3, 3), (2, 4), (5, 2)]
    assert len(plain["params"]) == 5 and decayed["betas"] == (0.8, 0.9)
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_optimizer(nn.ReLU(), TrainConfig())


# --- precision --------------------------------------------------------------------------------

def test_precision_on_cpu():
    assert resolve_precision("auto", CPU) == "fp32"
    assert resolve_precision("bf16", CPU) == "bf16"
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", CPU)
    assert not make_grad_scaler("bf16", CPU).is_enabled()


# --- seeding and data -------------------------------------------------------------------------

def test_derived_seeds_are_stable_and_distinct():
    assert derive_seed(0, 1, 2) == derive_seed(0, 1, 2)
    seeds = {derive_seed(0, 1, rank, step) for rank in range(4) for step in range(100)}
    assert len(seeds) == 400 and all(0 <= s < 2**63 for s in seeds)
    with pytest.raises(ValueError):
        derive_seed(-1)


def test_step_seeding_makes_draws_a_function_of_rank_and_step():
    seed_step(7, rank=0, step=3)
    first = torch.rand(4)
    torch.rand(100)                                       # whatever happened in between
    seed_step(7, rank=0, step=3)
    assert torch.equal(torch.rand(4), first)
    seed_step(7, rank=1, step=3)
    assert not torch.equal(torch.rand(4), first)


def test_seeded_batches_resume_mid_stream_and_differ_between_ranks():
    def make(seed):
        return torch.rand(3, generator=torch.Generator().manual_seed(seed))

    stream = seeded_batches(make, seed=5, rank=0)
    full = [next(stream) for _ in range(6)]
    resumed = seeded_batches(make, seed=5, rank=0, start_step=4)
    assert all(torch.equal(a, next(resumed)) for a in full[4:])
    other_rank = next(seeded_batches(make, seed=5, rank=1))
    assert not torch.equal(other_rank, full[0])


def test_shuffled_batches_split_each_epoch_between_ranks_and_resume():
    samplers = [ShuffledBatchSampler(22, 3, rank=r, world_size=2, seed=1) for r in range(2)]
    assert samplers[0].batches_per_epoch == 3            # 11 items per rank → 3 full batches
    streams = [iter(s) for s in samplers]
    epoch0 = [[next(s) for _ in range(3)] for s in streams]
    flat = [[i for batch in rank_batches for i in batch] for rank_batches in epoch0]
    assert all(len(batch) == 3 for rank_batches in epoch0 for batch in rank_batches)
    assert not set(flat[0]) & set(flat[1])                # disjoint across ranks
    assert len(set(flat[0])) == 9 and set(flat[0]) <= set(range(22))
    epoch1 = [next(streams[0]) for _ in range(3)]
    assert epoch1 != epoch0[0]                             # reshuffled
    resumed = iter(ShuffledBatchSampler(22, 3, rank=0, world_size=2, seed=1, start_step=4))
    assert [next(resumed) for _ in range(2)] == epoch1[1:]
    with pytest.raises(ValueError, match="fewer than one batch"):
        ShuffledBatchSampler(5, 3, rank=0, world_size=2, seed=0)


def test_to_device_walks_nested_batches():
    Pair = namedtuple("Pair", "left right")
    batch = {"pair": Pair(torch.zeros(1), torch.ones(1)), "list": [torch.zeros(2)], "id": "a"}
    moved = to_device(batch, CPU)
    assert isinstance(moved["pair"], Pair) and torch.equal(moved["pair"].right, torch.ones(1))
    assert isinstance(moved["list"], list) and moved["id"] == "a"


# --- image grids ------------------------------------------------------------------------------

def test_image_grid_tiles_row_by_row_with_white_padding():
    images = torch.stack([torch.full((3, 2, 4), v) for v in (0.1, 0.2, 0.3, 0.4, 0.5)])
    grid = image_grid(images, columns=2, padding=1)
    assert grid.shape == (3, 3 * 3 + 1, 2 * 5 + 1)
    assert grid[0, 0, 0] == 1.0                            # padding
    assert torch.all(grid[:, 1:3, 1:5] == 0.1)             # first tile, top left
    assert torch.all(grid[:, 1:3, 6:10] == 0.2)            # second tile, same row
    assert torch.all(grid[:, 4:6, 1:5] == 0.3)             # third tile, next row
    assert torch.all(grid[:, 7:9, 6:10] == 1.0)            # sixth slot stays empty
    grey = image_grid(torch.full((1, 1, 2, 2), 7.0), padding=0)
    assert grey.shape == (3, 2, 2) and torch.all(grey == 1.0)   # 1 channel → RGB, clamped
    with pytest.raises(ValueError, match=re.escape("(N, 1|3, H, W)")):
        image_grid(torch.zeros(2, 2, 4, 4))


# --- recipe registry --------------------------------------------------------------------------

def test_registry_finds_recipes_and_rejects_bad_ones():
    assert "tiny" in available_recipes()
    recipe = get_recipe("tiny")
    assert recipe.name == "tiny" and isinstance(recipe, Recipe)
    with pytest.raises(ValueError, match="unknown recipe 'nope'; available: .*tiny"):
        get_recipe("nope")
    with pytest.raises(ValueError, match="lower-case"):
        register_recipe("Tiny Model")
    with pytest.raises(ValueError, match="already registered by _tiny_recipe.TinyRecipe"):
        register_recipe("tiny")(type("Other", (_tiny_recipe.TinyRecipe,), {}))
    with pytest.raises(ValueError, match="Recipe subclass"):
        register_recipe("not-a-recipe")(dict)
    assert "not-a-recipe" not in available_recipes()


# --- distributed helpers (single process) -----------------------------------------------------

def test_launch_ranks_read_torchrun_variables():
    assert launch_ranks({}) == (0, 0, 1)
    env = {"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert launch_ranks(env) == (3, 1, 4)
    assert launch_prefix(env) == "torchrun --nnodes=2 --nproc_per_node=2 "
    assert launch_prefix({}) == ""
    with pytest.raises(ValueError, match="RANK or LOCAL_RANK is not set"):
        launch_ranks({"WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="inconsistent"):
        launch_ranks({"WORLD_SIZE": "2", "RANK": "2", "LOCAL_RANK": "0"})
    with pytest.raises(ValueError, match="integers"):
        launch_ranks({"WORLD_SIZE": "two"})


def test_parameter_digest_sees_a_one_ulp_change():
    model = nn.Linear(3, 2)
    before = parameter_digest(model)
    assert check_replicas_identical(model, DistContext(0, 0, 1, CPU)) == [before]
    with torch.no_grad():
        model.weight[0, 0] = torch.nextafter(model.weight[0, 0], torch.tensor(math.inf))
    assert parameter_digest(model) != before
