"""``edgegeo demo``: the main job on its embedded default (see ``edgegeo.runtime.demo``)."""
from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the end-to-end demo on built-in data",
        description="Render a held-out synthetic walk-through and stream it through the "
                    "runtime: fuse its ground-truth depth (the reference) and the mvs model's "
                    "depth into meshes and score them; run the stereo baseline, the stereo "
                    "model and the mono-depth model on the real Middlebury Motorcycle pair; "
                    "write report.md, metrics.json, meshes and pictures to --out. A model "
                    "without shipped weights gets a 'not shipped' row.")
    parser.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    parser.add_argument("--seed", type=int, default=1000, help="scene seed (default: 1000, held out)")
    parser.add_argument("--frames", type=int, default=60, help="walk-through length (default: 60)")
    parser.add_argument("--size", default="384x288", metavar="WxH",
                        help="rendered frame size in pixels (default: 384x288, the mvs "
                             "model's working resolution)")
    parser.add_argument("--max-depth", type=float, default=5.0,
                        help="fuse depth up to this many metres (default: 5.0)")
    parser.add_argument("--weights-dir", metavar="DIR",
                        help="look for the models' <name>.safetensors (and .json cards) here "
                             "instead of the shipped edgegeo/weights/")
    parser.set_defaults(func=run)


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` → ``(W, H)`` in pixels, both positive."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like 256x192, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return width, height


def run(args) -> int:
    from pathlib import Path

    from edgegeo.runtime.demo import DemoConfig, run_demo

    width, height = parse_size(args.size)
    if args.frames < 2:
        raise ValueError(f"--frames must be at least 2, got {args.frames}")
    if args.weights_dir is not None and not Path(args.weights_dir).is_dir():
        raise FileNotFoundError(f"--weights-dir {args.weights_dir}: no such folder")
    results = run_demo(args.out, DemoConfig(args.seed, args.frames, width, height,
                                            args.max_depth, args.weights_dir))
    for row in results["fusion"].values():
        print(f"fusion ({row['depth']}): " + (
            f"{row['frames fused']} frames fused, F-score@5cm {row['fscore']:.3f}, accuracy "
            f"{100 * row['accuracy']:.2f} cm, completeness {100 * row['completeness']:.2f} cm"
            if "fscore" in row else row["status"]))
    for row in results["stereo"].values():
        print(f"stereo ({row['method']}, Motorcycle): " + (
            f"EPE {row['epe']:.2f} px, bad-2 {row['bad2']:.1f} %" if "epe" in row
            else row["status"]))
    mono = results["mono"]
    print("mono-depth (Motorcycle): " + (f"AbsRel {mono['abs_rel']:.3f} after scale and shift"
                                         if "abs_rel" in mono else mono["status"]))
    print(f"report: {args.out}/report.md")
    return 0
