"""``edgegeo train RECIPE``: train a model with its recipe (single process or under torchrun)."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

DESCRIPTION = """\
Train the model of RECIPE (mono-depth, stereo, mvs, jbu, croco, ...) with the shared engine:
AdamW, warm-up + cosine schedule, gradient clipping, mixed precision on CUDA, checkpoints in
OUT/checkpoints/last.pt, scalars in OUT/scalars.jsonl and TensorBoard logs in OUT/tensorboard.
The finished run writes OUT/RECIPE.safetensors (fp16) and its model card OUT/RECIPE.json.

The same command runs data-parallel under torchrun, one process per GPU (NCCL) or per CPU
process (gloo):
  torchrun --nproc_per_node=2 -m edgegeo train RECIPE --out OUT
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a model with its recipe", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", nargs="?", metavar="RECIPE",
                        help="recipe name (see --list)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny model, data and step count: finishes in seconds (what the "
                             "tests run); the model card says smoke: true")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="run folder (default: runs/RECIPE, or runs/RECIPE-smoke)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        dest="overrides",
                        help="override a config field, e.g. --set lr=1e-3 --set steps=2000 "
                             "(repeatable; applied after --smoke sizes)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from DIR/checkpoints/last.pt if it exists")
    parser.add_argument("--stop-after", type=int, metavar="STEP",
                        help="stop (with a checkpoint) once STEP steps are done; continue "
                             "later with --resume")
    parser.add_argument("--recipe-module", action="append", default=[], metavar="MODULE",
                        help="import MODULE first, for recipes defined outside edgegeo "
                             "(repeatable)")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import importlib

    from edgegeo.training.config import make_config
    from edgegeo.training.distributed import launch_ranks
    from edgegeo.training.engine import train
    from edgegeo.training.recipes import available_recipes, get_recipe

    for module in args.recipe_module:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise ValueError(f"--recipe-module {module}: {exc}") from None
    if args.list:
        print("\n".join(available_recipes()) or "no recipes registered")
        return 0
    if args.recipe is None:
        raise ValueError("name a RECIPE to train (see edgegeo train --list)")
    recipe = get_recipe(args.recipe)
    cfg = make_config(recipe.config_cls,
                      smoke_overrides=recipe.smoke_overrides if args.smoke else None,
                      overrides=args.overrides)
    out_dir = args.out or Path("runs") / (f"{recipe.name}-smoke" if args.smoke else recipe.name)
    result = train(recipe, cfg, out_dir, resume=args.resume, stop_after=args.stop_after,
                   command=command_line(args), smoke=args.smoke)
    if launch_ranks()[0] != 0:
        return 0
    if result.weights_path is not None:
        loss = result.metrics["train"].get("train/loss", float("nan"))
        print(f"trained {recipe.name}: {result.step} steps in {result.wall_time_s:.1f} s, "
              f"final loss {loss:.4g}; weights {result.weights_path}")
    else:
        print(f"stopped {recipe.name} at step {result.step} of {cfg.steps}; continue with "
              f"--resume --out {out_dir}")
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The canonical command equivalent to this invocation: ``edgegeo train …``, or under
    torchrun ``torchrun --nnodes=N --nproc_per_node=M -m edgegeo train …``."""
    from edgegeo.training.distributed import launch_prefix

    prefix = launch_prefix()
    words = ([*shlex.split(prefix), "-m"] if prefix else []) + ["edgegeo", "train", args.recipe]
    if args.smoke:
        words.append("--smoke")
    if args.out is not None:
        words += ["--out", str(args.out)]
    for override in args.overrides:
        words += ["--set", override]
    if args.resume:
        words.append("--resume")
    if args.stop_after is not None:
        words += ["--stop-after", str(args.stop_after)]
    for module in args.recipe_module:
        words += ["--recipe-module", module]
    return shlex.join(words)
