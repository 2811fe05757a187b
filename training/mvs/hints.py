"""Depth hints for training a hinted ``mvs`` model: the fused map rendered into each frame.

A hinted model (``MVSNetConfig.hint``) reads, besides its cost volume, the depth of the TSDF map
fused so far rendered at the reference pose (:class:`edgegeo.models.mvs.MVSStream` with a
``fusion``). To learn when to trust it, training needs the hints it will see at test time:
made by an earlier model, fused online in keyframe order. :func:`online_hints` plays a
walk-through through an :class:`MVSStream` of a (not hinted, or hinted) predictor with TSDF
fusion, and before each frame renders the map fused from the keyframes before it. The mesh
holds only voxels seen by at least two fused keyframes, so the frames up to the second
predicted keyframe get no hint (zeros). The hints of a shard folder are
written as ``<out>/<shard name>.npy`` (``(F, H, W) float16`` metres, 0 = no hint), read back by
:func:`edgegeo.training.mvs.data.load_shard_sequences` with ``hints=``.

Reference: Sayed et al., "DoubleTake: Geometry Guided Depth Estimation", ECCV 2024 (code:
https://github.com/nianticlabs/doubletake) — hints rendered from the mesh fused so far.

Run (one process per core)::

    python -m edgegeo.training.mvs.hints --data data/mvs-walk384 --out data/mvs-hints384 \
        --first 0 --count 60
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edgegeo.data.frame import Frame


def online_hints(rgb: np.ndarray, K: np.ndarray, world_T_cam: np.ndarray, predictor,
                 fusion_config=None) -> np.ndarray:
    """Hints for one walk-through.

    Args:
        rgb: ``(F, H, W, 3) uint8`` frames in time order.
        K: ``(F, 3, 3)`` intrinsics, pixels.
        world_T_cam: ``(F, 4, 4)`` camera-to-world poses, metres.
        predictor: an :class:`edgegeo.models.mvs.MVSPredictor` (its depth, with its confidence
            mask, is what gets fused).
        fusion_config: :class:`edgegeo.fusion.FusionConfig` (default: the defaults).
    Returns:
        ``(F, H, W) float32`` metres: frame ``i``'s hint, rendered before frame ``i`` is pushed
        (0 = nothing fused there).
    """
    from edgegeo.fusion import FusionConfig, TSDFFusion
    from edgegeo.models.mvs.predictor import MVSStream

    fusion = TSDFFusion(fusion_config or FusionConfig())
    stream = MVSStream(predictor, fusion=fusion)
    hints = np.zeros(rgb.shape[:3], np.float32)
    for i in range(len(rgb)):
        hints[i] = stream.hint(K[i], world_T_cam[i], rgb.shape[1:3])
        stream.push(Frame(rgb[i], K[i], world_T_cam=world_T_cam[i]))
    return hints


def main(argv: list[str] | None = None) -> None:
    from edgegeo.data.splits import TRAIN_SEEDS
    from edgegeo.data.synthetic import read_shard, scene_shards
    from edgegeo.training.mvs.data import make_sequence

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder of walk-through shards")
    parser.add_argument("--out", required=True, help="folder for <shard>.npy hints")
    parser.add_argument("--weights", default=None, help="mvs weights (default: shipped)")
    parser.add_argument("--first", type=int, default=0, help="first shard (sorted)")
    parser.add_argument("--count", type=int, default=0, help="shards (0: all from --first)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from edgegeo.models import registry
    from edgegeo.models.mvs import MVSPredictor

    network, card, _ = registry.trained_network("mvs", weights=args.weights)
    predictor = MVSPredictor(network.eval(), **card.get("predictor_options", {}))
    size = predictor.resolution
    shards = scene_shards(args.data, TRAIN_SEEDS, "mvs hints")[args.first:]
    shards = shards[:args.count] if args.count else shards
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for n, shard in enumerate(shards, start=1):
        target = out / f"{shard.name}.npy"
        if target.exists():
            continue
        sequence = make_sequence(read_shard(shard), size, shard.name)
        hints = online_hints(sequence.rgb, sequence.K, sequence.world_T_cam, predictor)
        np.save(target.with_suffix(".tmp.npy"), hints.astype(np.float16))
        target.with_suffix(".tmp.npy").rename(target)
        covered = float((hints > 0).mean())
        print(f"[{n}/{len(shards)}] {shard.name}: hint on {covered:.0%} of pixels, "
              f"{time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
