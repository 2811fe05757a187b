"""Render the mono-depth recipe's labelled data as ``scene_<seed>`` frame shards (the format
:func:`edgegeo.training.mono.data.load_shard_frames` reads).

    python -m edgegeo.training.mono.render objects --out data/mono-objects --scenes 600 --views 6
    python -m edgegeo.training.mono.render objects-held-out --out data/mono-objects-test \\
        --seed 1000 --scenes 20 --views 4
    python -m edgegeo.training.mono.render rooms --out data/mono-rooms --scenes 200 --frames 6

* ``objects``: object-centred scenes (:func:`edgegeo.data.synthetic.objects.generate_object_scene`,
  training setting), views aimed at the props.
* ``objects-held-out``: the same generator in its held-out setting
  (:meth:`ObjectSceneConfig.held_out`); seeds must be ``TEST_SEEDS`` (or ``VAL_SEEDS``).
* ``rooms``: walk-through frames of furnished rooms, identical to ``edgegeo data render``'s.

Scene seeds of ``objects`` and ``rooms`` must lie in ``TRAIN_SEEDS`` or ``VAL_SEEDS``. Frames
are 320×240 unless ``--size`` says otherwise. Existing shards are kept (rendering resumes).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from edgegeo.data.splits import TEST_SEEDS, TRAIN_SEEDS, VAL_SEEDS, check_seeds

from .data import RIG_SEED_FACTOR


def render(kind: str, out: Path, seeds, views: int, width: int, height: int) -> int:
    """Write one shard per scene seed under ``out``; returns the number of shards written."""
    from edgegeo.data.synthetic import generate_scene, walkthrough, write_shard
    from edgegeo.data.synthetic.objects import ObjectSceneConfig, generate_object_scene, object_views

    allowed = range(VAL_SEEDS.start, TEST_SEEDS.stop) if kind == "objects-held-out" else \
        range(TRAIN_SEEDS.start, VAL_SEEDS.stop)
    check_seeds(seeds, allowed, f"mono render {kind}")
    config = ObjectSceneConfig.held_out() if kind == "objects-held-out" else ObjectSceneConfig()
    written = 0
    for seed in seeds:
        shard = out / f"scene_{seed:06d}"
        if (shard / "meta.npz").is_file():
            continue
        if kind == "rooms":
            frames = walkthrough(generate_scene(seed), views, width, height,
                                 seed=seed * RIG_SEED_FACTOR, progress=False)
        else:
            frames = object_views(generate_object_scene(seed, config), views, width, height,
                                  seed=seed, config=config)
        write_shard(shard, frames)
        written += 1
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=("objects", "objects-held-out", "rooms"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0, help="first scene seed")
    parser.add_argument("--scenes", type=int, required=True)
    parser.add_argument("--views", "--frames", dest="views", type=int, default=6)
    parser.add_argument("--size", type=int, nargs=2, default=(240, 320), metavar=("H", "W"))
    args = parser.parse_args(argv)
    start = time.time()
    count = render(args.kind, args.out, range(args.seed, args.seed + args.scenes), args.views,
                   args.size[1], args.size[0])
    print(f"{args.kind}: {count} new shards under {args.out} in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
