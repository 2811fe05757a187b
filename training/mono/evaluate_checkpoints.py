"""Motorcycle and held-out synthetic metrics over a run's checkpoints and input sizes (one real
image is one sample: its AbsRel swings between checkpoints and with the input scale, so it is
reported over both, never as one number).

    python -m edgegeo.training.mono.evaluate_checkpoints runs/mono-cnn/snapshots/*.pt \\
        --resolutions 176 256 --test-data data/mono-objects-test data/synth-test

Each row: checkpoint step (or weights file name), then per resolution (predictor short side) the Motorcycle AbsRel /
δ1 and the mean AbsRel over each held-out folder's frames (LS scale + shift in disparity, as
``edgegeo eval mono``); the row prior's numbers close the table. Prints a markdown table.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def _frames(folder: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    from edgegeo.data.synthetic import read_shard, scene_shards
    from edgegeo.data.splits import TEST_SEEDS

    return [(frame.rgb, frame.depth) for shard in
            scene_shards(folder, split=TEST_SEEDS, purpose="held-out evaluation")
            for frame in read_shard(shard)]


def _scores(predict, sample, sets: dict) -> list[float]:
    from edgegeo.metrics.depth import relative_depth_metrics

    moto = relative_depth_metrics(predict(sample.left), sample.depth(), sample.valid)
    values = [moto["abs_rel"], moto["a125"]]
    for frames in sets.values():
        values.append(float(np.mean([relative_depth_metrics(predict(rgb), depth, depth > 0)["abs_rel"]
                                     for rgb, depth in frames])))
    return values


def main(argv=None) -> int:
    from edgegeo.data.middlebury import load_motorcycle
    from edgegeo.models.mono_depth import MonoDepthNet, MonoDepthPredictor
    from edgegeo.training.mono.data import row_prior_disparity
    from edgegeo.training.mono.model import load_network, parse_model_spec

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path,
                        help="engine checkpoints (.pt) or weights (.safetensors + card)")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[176, 256])
    parser.add_argument("--test-data", type=Path, nargs="*", default=[],
                        help="folders of TEST_SEEDS scene shards")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sample = load_motorcycle()
    sets = {folder.name: _frames(folder) for folder in args.test_data}
    columns = ["step"] + [f"{name} @{r}" for r in args.resolutions
                          for name in ["Moto AbsRel", "Moto δ1", *sets]]
    rows = []
    for path in args.checkpoints:
        if path.suffix == ".safetensors":             # finished weights with their card
            network, step = load_network(path), path.name
        else:
            state = torch.load(path, map_location="cpu", weights_only=False)
            network = MonoDepthNet(parse_model_spec(state["config"]["model"]))
            network.load_state_dict(state["model"])
            network.eval()
            step = str(state["step"])
        values = []
        for resolution in args.resolutions:
            values += _scores(MonoDepthPredictor(network, resolution=resolution), sample, sets)
        rows.append([step] + [f"{v:.3f}" for v in values])
        print(" | ".join(rows[-1]), flush=True)
    prior = _scores(lambda rgb: row_prior_disparity(*rgb.shape[:2]), sample, sets)
    rows.append(["row prior"] + [f"{v:.3f}" for v in prior] * len(args.resolutions))
    print("\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
