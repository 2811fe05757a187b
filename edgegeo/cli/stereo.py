"""``edgegeo stereo LEFT RIGHT``: disparity of a rectified pair with a stereo model."""
from __future__ import annotations

import argparse
from pathlib import Path

OUTPUT_SUFFIXES = (".png", ".pfm", ".npy")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "stereo", help="disparity of a rectified stereo pair (stereo model)",
        description="Predict the disparity of the left image of a rectified pair, in pixels, "
                    "with the stereo model (the cost-volume network, one pass over the whole "
                    "image; --model croco-stereo for the CroCo-Stereo recipe's weights) and "
                    "write it as a colour-mapped PNG, a PFM or a float32 .npy at the left "
                    "image's size.")
    parser.add_argument("left", type=Path, metavar="LEFT", help="left image file")
    parser.add_argument("right", type=Path, metavar="RIGHT", help="right image file")
    parser.add_argument("-o", "--out", type=Path, metavar="OUT",
                        help="output .png (colour map), .pfm or .npy (float32 pixels); "
                             "default: LEFT-stem_disparity.png in the current folder")
    parser.add_argument("--max-disparity", type=float, metavar="PX",
                        help="largest disparity in the pair, pixels; larger than the model's "
                             "range (192 px for stereo) shrinks the pair before inference "
                             "(default: within the model's range)")
    parser.add_argument("--confidence", type=Path, metavar="OUT.png",
                        help="also write the confidence map (exp(-c), grey)")
    parser.add_argument("--model", choices=("stereo", "croco-stereo"), default="stereo",
                        help="which stereo model (default: %(default)s)")
    parser.add_argument("--weights", type=Path, metavar="PATH",
                        help="a .safetensors file (default: the model's shipped weights)")
    parser.add_argument("--no-rectification-check", action="store_true",
                        help="skip the check that matched features lie on the same rows")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import edgegeo
    from edgegeo.data.images import load_image
    from edgegeo.data.pfm import write_pfm
    from edgegeo.viz import colorize, save_png

    out = args.out or Path(f"{args.left.stem}_disparity.png")
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"output {out} must end in {', '.join(OUTPUT_SUFFIXES)}")
    left, right = load_image(args.left), load_image(args.right)
    predictor = edgegeo.load(args.model, device=args.device, weights=args.weights,
                             max_disparity=args.max_disparity,
                             check_rectification=not args.no_rectification_check)
    disparity, confidence = predictor(left, right, return_confidence=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".npy":
        np.save(out, disparity)
    elif suffix == ".pfm":
        write_pfm(out, disparity)
    else:
        save_png(out, colorize(disparity, invalid=None))
    if args.confidence:
        grey = np.clip(np.log(confidence) / 6.0 + 0.5, 0, 1)
        save_png(args.confidence, (np.repeat(grey[..., None], 3, axis=2) * 255).astype(np.uint8))
    print(f"disparity {disparity.shape[1]}x{disparity.shape[0]} "
          f"[{disparity.min():.4g}, {disparity.max():.4g}] px -> {out}")
    return 0
