"""The Motorcycle picture of the mono-depth notes: left image, GT disparity and each model's
prediction (least-squares scale + shift aligned to the GT disparity, on the GT's colour scale),
labelled with the model, its input size (short side) and its AbsRel.

    python -m edgegeo.training.mono.figure --out docs/images/mono_motorcycle.png \\
        --model "old ViT=runs/old-mono/mono-depth.safetensors@128" \\
        --model "new CNN=edgegeo/weights/mono-depth.safetensors@224"
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FIGURE_SCALE = 0.4       # of Motorcycle's 741×500 per tile


def main(argv=None) -> int:
    import cv2
    import torch

    from edgegeo.data.middlebury import load_motorcycle
    from edgegeo.metrics.depth import align_scale_shift, relative_depth_metrics
    from edgegeo.models.mono_depth import MonoDepthPredictor
    from edgegeo.training.mono.model import load_network
    from edgegeo.viz import colorize, image_grid, save_png

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", required=True, metavar="LABEL=PATH@SHORT_SIDE")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sample = load_motorcycle()
    low, high = (float(v) for v in np.percentile(sample.disparity[sample.valid], [1, 99]))
    images = [sample.left.copy(), colorize(sample.disparity, low, high)]
    labels = ["Motorcycle left (evaluation only)", "GT disparity"]
    for item in args.model:
        label, rest = item.split("=", 1)
        path, resolution = rest.rsplit("@", 1)
        predictor = MonoDepthPredictor(load_network(path), resolution=int(resolution))
        disparity = predictor(sample.left)
        abs_rel = relative_depth_metrics(disparity, sample.depth(), sample.valid)["abs_rel"]
        scale, shift = align_scale_shift(disparity, sample.disparity, sample.valid)
        images.append(colorize(scale * disparity + shift, low, high, invalid=None))
        labels.append(f"{label} @{resolution}: {abs_rel:.3f}")
    size = (round(sample.left.shape[1] * FIGURE_SCALE), round(sample.left.shape[0] * FIGURE_SCALE))
    tiles = [cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in images]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_png(args.out, image_grid(tiles, labels, ncols=2))
    print(f"picture: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
