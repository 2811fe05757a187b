"""``edgegeo upsample DEPTH IMAGE -o OUT``: upsample a low-resolution depth map to the
resolution of an image, edges following the image."""
from __future__ import annotations

import argparse
from pathlib import Path

METHODS = ("jbu", "fixed", "bilinear")
DEPTH_SUFFIXES = (".png", ".npy")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "upsample", help="upsample low-resolution depth guided by an image",
        description="Upsample a low-resolution depth map (16-bit PNG in millimetres or .npy "
                    "float32 metres, 0 = invalid) to the size of a guide image. Methods: jbu "
                    "(the learned joint bilateral upsampler, edgegeo.load('jbu'); trained "
                    "x4, other powers of two skip or repeat its stages), fixed (classic joint "
                    "bilateral upsampling, edgegeo.ops.joint_bilateral_upsample), bilinear. "
                    "Invalid pixels never bleed into valid ones.")
    parser.add_argument("depth", type=Path, metavar="DEPTH",
                        help="low-resolution depth: 16-bit PNG (mm) or .npy (float32 m)")
    parser.add_argument("image", type=Path, metavar="IMAGE",
                        help="guide image at the output resolution")
    parser.add_argument("-o", "--out", type=Path, required=True, metavar="OUT",
                        help="output depth: .png (16-bit mm) or .npy (float32 m); a "
                             "colour-mapped preview is written with --preview")
    parser.add_argument("--method", choices=METHODS, default="jbu",
                        help="upsampling method (default jbu)")
    parser.add_argument("--depth-scale", type=float, default=1000.0, metavar="UNITS",
                        help="units per metre of a PNG depth input and output (default 1000 = "
                             "mm; TUM uses 5000)")
    parser.add_argument("--weights", type=Path, metavar="PATH",
                        help="jbu weights (default: the shipped edgegeo/weights/jbu.safetensors)")
    parser.add_argument("--radius", type=int, metavar="PIXELS",
                        help="fixed: window radius (default: the scale)")
    parser.add_argument("--sigma-spatial", type=float, default=3.0,
                        help="fixed: spatial sigma in output pixels (default 3)")
    parser.add_argument("--sigma-range", type=float, default=0.03,
                        help="fixed: range sigma on RGB in [0, 1] (default 0.03)")
    parser.add_argument("--preview", type=Path, metavar="PNG",
                        help="also write a colour-mapped PNG of the result")
    parser.add_argument("--device", default="cpu", help="torch device for jbu (default cpu)")
    parser.set_defaults(func=run)


def _read_depth(path: Path, units_per_metre: float):
    import numpy as np

    from edgegeo.data.images import read_depth_png

    suffix = path.suffix.lower()
    if suffix not in DEPTH_SUFFIXES:
        raise ValueError(f"depth {path} must be a .png (16-bit) or .npy file")
    if suffix == ".png":
        return read_depth_png(path, units_per_metre)
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {path}")
    depth = np.load(path)
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(f"{path}: expected an (h, w) float array in metres, got "
                         f"{depth.shape} {depth.dtype}")
    return depth.astype(np.float32)


def upsample(depth, image, method: str, *, weights=None, device: str = "cpu",
             radius: int | None = None, sigma_spatial: float = 3.0, sigma_range: float = 0.03):
    """``(h, w)`` float32 metres + ``(H, W, 3)`` uint8 → ``(H, W)`` float32 metres."""
    import math

    import numpy as np

    from edgegeo.models.jbu import baselines

    if method == "jbu":
        import edgegeo

        return edgegeo.load("jbu", device=device, weights=weights)(depth, image)
    if method == "bilinear":
        return baselines.bilinear(depth, image)
    if method != "fixed":
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    from edgegeo.ops import joint_bilateral_upsample

    (low_h, low_w), (height, width) = depth.shape, image.shape[:2]
    scale = height / low_h
    if round(low_w * scale) != width:
        raise ValueError(f"fixed: the image {height}x{width} must be the depth {low_h}x{low_w} "
                         f"scaled by one factor (got {height / low_h:.4g} and "
                         f"{width / low_w:.4g}); use --method jbu or bilinear")
    radius = radius if radius is not None else max(1, math.ceil(scale))
    return joint_bilateral_upsample(np.ascontiguousarray(depth, np.float32), image, scale,
                                    radius, sigma_spatial, sigma_range)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from edgegeo.data.images import load_image, write_depth_png

    out_suffix = args.out.suffix.lower()
    if out_suffix not in DEPTH_SUFFIXES:
        raise ValueError(f"output {args.out} must end in .png (16-bit) or .npy")
    depth = _read_depth(args.depth, args.depth_scale)
    image = load_image(args.image)
    if image.shape[0] < depth.shape[0] or image.shape[1] < depth.shape[1]:
        raise ValueError(f"image {image.shape[1]}x{image.shape[0]} is smaller than the depth "
                         f"{depth.shape[1]}x{depth.shape[0]}: the image sets the output size")
    result = upsample(depth, image, args.method, weights=args.weights, device=args.device,
                      radius=args.radius, sigma_spatial=args.sigma_spatial,
                      sigma_range=args.sigma_range)
    if out_suffix == ".npy":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        np.save(args.out, result.astype(np.float32))
    else:
        write_depth_png(args.out, result, args.depth_scale)
    if args.preview is not None:
        from edgegeo.viz import colorize, save_png

        save_png(args.preview, colorize(result))
    valid = result[result > 0]
    span = f"[{valid.min():.3f}, {valid.max():.3f}] m" if valid.size else "no valid pixels"
    print(f"{args.method}: depth {depth.shape[1]}x{depth.shape[0]} -> "
          f"{result.shape[1]}x{result.shape[0]} {span} -> {args.out}")
    return 0
