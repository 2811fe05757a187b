"""``edgegeo demo``: the main job on its embedded default (see ``edgegeo.runtime.demo``)."""
from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the end-to-end demo on built-in data",
        description="Render a held-out synthetic walk-through, fuse its depth into a mesh and "
                    "score it; run the stereo baseline on the real Middlebury Motorcycle pair; "
                    "write report.md, metrics.json, meshes and pictures to --out.")
    parser.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    parser.add_argument("--seed", type=int, default=1000, help="scene seed (default: 1000, held out)")
    parser.add_argument("--frames", type=int, default=60, help="walk-through length (default: 60)")
    parser.add_argument("--size", default="256x192", metavar="WxH",
                        help="rendered frame size in pixels (default: 256x192)")
    parser.add_argument("--max-depth", type=float, default=5.0,
                        help="fuse depth up to this many metres (default: 5.0)")
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
    from edgegeo.runtime.demo import DemoConfig, run_demo

    width, height = parse_size(args.size)
    if args.frames < 2:
        raise ValueError(f"--frames must be at least 2, got {args.frames}")
    results = run_demo(args.out, DemoConfig(args.seed, args.frames, width, height, args.max_depth))
    fusion, stereo = results["fusion"], results["stereo"]
    print(f"fusion: {fusion['frames']} frames, F-score@5cm {fusion['fscore']:.3f}, "
          f"accuracy {100 * fusion['accuracy']:.2f} cm, completeness "
          f"{100 * fusion['completeness']:.2f} cm, {fusion['integrate_ms_median']:.1f} ms/frame")
    print(f"stereo (SGBM, Motorcycle): EPE {stereo['epe']:.2f} px, bad-2 {stereo['bad2']:.1f} %")
    print(f"report: {args.out}/report.md")
    return 0
