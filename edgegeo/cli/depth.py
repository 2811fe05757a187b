"""``edgegeo depth IMAGE``: relative depth (disparity) of one photo with the mono-depth model."""
from __future__ import annotations

import argparse
from pathlib import Path

OUTPUT_SUFFIXES = (".png", ".npy")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "depth", help="relative depth of one image (mono-depth model)",
        description="Predict the relative disparity (larger = nearer, unknown scale and shift) "
                    "of one RGB image with the mono-depth model and write it as a colour-mapped "
                    "PNG (turbo, near = red) or as a raw (H, W) float32 .npy at the image's "
                    "size.")
    parser.add_argument("image", type=Path, metavar="IMAGE", help="input image file")
    parser.add_argument("-o", "--out", type=Path, metavar="OUT",
                        help="output .png (colour map) or .npy (float32); default: "
                             "IMAGE-stem_disparity.png in the current folder")
    parser.add_argument("--weights", type=Path, metavar="PATH",
                        help="a .safetensors file (default: the shipped edgegeo/weights/"
                             "mono-depth.safetensors)")
    parser.add_argument("--config", metavar="NAME",
                        help="architecture the weights were trained with (tiny, small, base); "
                             "default: the model card beside the weights, else small")
    parser.add_argument("--resolution", type=int, default=256, metavar="PIXELS",
                        help="short side of the image inside the network (default 256)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import edgegeo
    from edgegeo.data.images import load_image
    from edgegeo.viz import colorize, save_png

    out = args.out or Path(f"{args.image.stem}_disparity.png")
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"output {out} must end in {' or '.join(OUTPUT_SUFFIXES)}")
    image = load_image(args.image)
    predictor = edgegeo.load("mono-depth", device=args.device, weights=args.weights,
                             config=args.config, resolution=args.resolution)
    disparity = predictor(image)
    if out.suffix.lower() == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, disparity)
    else:
        save_png(out, colorize(disparity, invalid=None))
    print(f"disparity {disparity.shape[1]}x{disparity.shape[0]} "
          f"[{disparity.min():.4g}, {disparity.max():.4g}] -> {out}")
    return 0
