"""``edgegeo data``: render synthetic datasets, pack them into one file, benchmark the renderer
(``data bench`` prints its table; with ``--record`` it writes the ``render`` section of
docs/benchmarks.md)."""
from __future__ import annotations

RIGS = ("walkthrough", "stereo", "pairs")
BENCH_SECTION = "render"
SHEET_ROWS = 4


def register(subparsers) -> None:
    """Add ``data`` and its subcommands ``render``, ``pack`` and ``bench``."""
    from edgegeo.bench_report import add_record_argument

    parser = subparsers.add_parser(
        "data", help="synthetic datasets: render procedural rooms, benchmark the renderer",
        description="Synthetic data from procedural furnished rooms (Open3D ray casting): every "
                    "training set and held-out evaluation in edgegeo comes from here.",
        epilog="Run 'edgegeo data SUBCOMMAND --help' for its options.")
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: _print_help(parser))

    render = sub.add_parser(
        "render", help="render a small dataset (shards) and a contact sheet",
        description="Render scenes with one camera rig and write shards (RGB PNG, 16-bit depth "
                    "PNG in mm, meta.npz) per scene plus contact_sheet.png. walkthrough: a "
                    "hand-held video per scene (and the GT mesh.ply); stereo: rectified pairs with "
                    "disparity and occlusion (stereo.npz); pairs: CroCo-scored view pairs (pairs.npz).")
    render.add_argument("--rig", choices=RIGS, required=True, help="camera rig")
    render.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    render.add_argument("--seed", type=int, default=0, help="first scene seed; scene i uses seed + i (default: %(default)s)")
    render.add_argument("--frames", type=int, default=16, metavar="M",
                        help="frames (walkthrough) or pairs (stereo, pairs) per scene (default: %(default)s)")
    render.add_argument("--scenes", type=int, default=1, help="number of scenes (default: %(default)s)")
    render.add_argument("--width", type=int, default=256, help="image width in pixels (default: %(default)s)")
    render.add_argument("--height", type=int, default=192, help="image height in pixels (default: %(default)s)")
    render.add_argument("--baseline-range", type=float, nargs=2, default=(0.05, 0.25),
                        metavar=("LOW", "HIGH"),
                        help="stereo rig: baseline drawn uniformly in [LOW, HIGH] metres; wider "
                             "baselines give larger disparities (default: %(default)s)")
    render.set_defaults(func=_render)

    pack = sub.add_parser(
        "pack", help="pack rendered shards into one compact .npz for training elsewhere",
        description="Pack the scene_* shards of one rig into a single uncompressed .npz that the "
                    "training recipes read in place of the shard folder: RGB as JPEG, stereo "
                    "disparity as 16-bit PNG in 1/64 px, walk-through depth as 16-bit PNG in mm, "
                    "K, poses and scene seeds exact. Reading it needs no Open3D.")
    pack.add_argument("--rig", choices=RIGS, required=True, help="rig of the shards")
    pack.add_argument("--src", required=True, metavar="DIR", help="folder of scene_* shards (edgegeo data render --out)")
    pack.add_argument("--out", required=True, metavar="FILE.npz", help="packed file to write")
    pack.add_argument("--max-items", type=int, default=0, metavar="N",
                      help="keep the first N frames (walkthrough) or pairs; 0 = all (default: %(default)s)")
    pack.add_argument("--quality", type=int, default=90, metavar="Q", help="JPEG quality 1-100 (default: %(default)s)")
    pack.set_defaults(func=_pack)

    bench = sub.add_parser(
        "bench", help="measure rendering speed (--record: write it to docs/benchmarks.md)",
        description="Render N frames (RGB + depth + normals + instances, shading with shadows and "
                    "the camera model) from random views of a few scenes and print frames/s; "
                    f"--record also writes the '{BENCH_SECTION}' section of docs/benchmarks.md.")
    bench.add_argument("--frames", type=int, default=60, metavar="N", help="frames to time (default: %(default)s)")
    bench.add_argument("--width", type=int, default=256, help="image width in pixels (default: %(default)s)")
    bench.add_argument("--height", type=int, default=192, help="image height in pixels (default: %(default)s)")
    bench.add_argument("--scenes", type=int, default=3, help="scenes the frames are spread over (default: %(default)s)")
    bench.add_argument("--seed", type=int, default=0, help="first scene seed (default: %(default)s)")
    add_record_argument(bench, BENCH_SECTION)
    bench.set_defaults(func=_bench)


def _print_help(parser) -> int:
    parser.print_help()
    return 2


def _check_args(args) -> None:
    for name in ("frames", "width", "height", "scenes"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")


def _depth_rgb(depth):
    """Depth colour-mapped over its 2nd–98th percentile (far windows would flatten it)."""
    import numpy as np

    from edgegeo.viz import colorize

    valid = depth[depth > 0]
    low, high = np.percentile(valid, [2, 98]) if valid.size else (0.0, 1.0)
    return colorize(depth, vmin=low, vmax=high)


def _walkthrough_sheet(frames):
    from edgegeo.viz import image_grid, instance_to_rgb, normals_to_rgb

    picks = sorted({round(i * (len(frames) - 1) / max(1, SHEET_ROWS - 1)) for i in range(SHEET_ROWS)})
    images, labels = [], []
    for index in picks:
        frame = frames[index]
        images += [frame.rgb, _depth_rgb(frame.depth), normals_to_rgb(frame.normals), instance_to_rgb(frame.instance)]
        labels += [f"frame {index} t={frame.timestamp:.1f}s", f"depth {frame.depth[frame.depth > 0].min():.2f}-"
                   f"{frame.depth.max():.1f} m", "normals (camera)", "instances"]
    return image_grid(images, labels, ncols=4)


def _stereo_sheet(pairs):
    import numpy as np

    from edgegeo.viz import colorize, image_grid

    images, labels = [], []
    for index, pair in enumerate(pairs[:SHEET_ROWS]):
        valid = pair.disparity[pair.disparity > 0]
        images += [pair.left.rgb, pair.right.rgb,
                   colorize(pair.disparity, vmin=0, vmax=float(np.percentile(valid, 99)) if valid.size else 1),
                   colorize(pair.occlusion.astype(np.float64), vmin=0, vmax=1, cmap="gray", invalid=None)]
        labels += [f"left {index}", f"right b={pair.baseline_m * 100:.1f} cm",
                   f"disparity {valid.min():.1f}-{valid.max():.1f} px" if valid.size else "disparity",
                   f"occluded {pair.occlusion.mean() * 100:.1f}%"]
    return image_grid(images, labels, ncols=4)


def _pairs_sheet(pairs):
    from edgegeo.viz import image_grid

    images, labels = [], []
    for index, pair in enumerate(pairs[: 2 * SHEET_ROWS]):
        images += [pair.first.rgb, pair.second.rgb]
        labels += [f"pair {index} view 1", f"IoU {pair.overlap_iou:.2f} angle {pair.viewpoint_angle_deg:.0f} "
                   f"score {pair.croco_score:.2f}"]
    return image_grid(images, labels, ncols=4)


def _render(args) -> int:
    from pathlib import Path

    import open3d as o3d
    from tqdm import tqdm

    from edgegeo.data import synthetic
    from edgegeo.viz import save_png

    _check_args(args)
    out = Path(args.out)
    sheet = None
    for scene_index in range(args.scenes):
        scene_seed = args.seed + scene_index
        scene = synthetic.generate_scene(scene_seed)
        shard = out / f"scene_{scene_seed:06d}"
        rig_seed = scene_seed * 1_000_003
        if args.rig == "walkthrough":
            frames = synthetic.walkthrough(scene, args.frames, args.width, args.height, seed=rig_seed)
            synthetic.write_shard(shard, frames)
            o3d.io.write_triangle_mesh(str(shard / "mesh.ply"), scene.mesh)
            sheet = sheet if sheet is not None else _walkthrough_sheet(frames)
        elif args.rig == "stereo":
            pairs = [synthetic.stereo_pair(scene, args.width, args.height, seed=rig_seed + index,
                                           baseline_range_m=tuple(args.baseline_range))
                     for index in tqdm(range(args.frames), desc="stereo pairs", unit="pair")]
            synthetic.write_stereo_shard(shard, pairs)
            sheet = sheet if sheet is not None else _stereo_sheet(pairs)
        else:
            pairs = synthetic.mine_view_pairs(scene, args.frames, args.width, args.height, seed=rig_seed)
            synthetic.write_view_pair_shard(shard, pairs)
            sheet = sheet if sheet is not None else _pairs_sheet(pairs)
        print(f"wrote {shard}")
    print(f"wrote {save_png(out / 'contact_sheet.png', sheet)}")
    return 0


def _pack(args) -> int:
    from edgegeo.data.synthetic.packed import pack_shards

    result = pack_shards(args.src, args.rig, args.out, max_items=args.max_items, jpeg_quality=args.quality)
    mib = result["bytes"] / 2**20
    print(f"wrote {result['path']}: {result['items']} {'frames' if args.rig == 'walkthrough' else 'pairs'} "
          f"of {result['scenes']} scenes, {mib:.2f} MiB ({mib / max(result['items'], 1):.4f} MiB per item)")
    return 0


def _bench(args) -> int:
    import time

    import numpy as np
    from tqdm import tqdm

    from edgegeo.bench_report import markdown_table, write_section
    from edgegeo.data import synthetic
    from edgegeo.geometry import K_from_fov

    _check_args(args)
    K = K_from_fov(args.width, args.height, 70.0)
    rng = np.random.default_rng(args.seed)
    views, generate_s = [], []
    for index in range(args.scenes):
        start = time.perf_counter()
        scene = synthetic.generate_scene(args.seed + index)
        generate_s.append(time.perf_counter() - start)
        count = args.frames // args.scenes + (index < args.frames % args.scenes)
        views += [(scene, synthetic.sample_view(scene, rng, K, args.width, args.height)) for _ in range(count)]
    for scene, pose in views[:3]:
        scene.render(K, pose, args.width, args.height)
    start = time.perf_counter()
    for index, (scene, pose) in enumerate(tqdm(views, desc="render", unit="frame")):
        scene.render(K, pose, args.width, args.height, rng=np.random.default_rng(index))
    render_s = (time.perf_counter() - start) / len(views)
    start = time.perf_counter()
    for scene, pose in views:
        synthetic.depth_only(scene, K, pose, args.width, args.height)
    depth_s = (time.perf_counter() - start) / len(views)
    row = {"resolution": f"{args.width}x{args.height}", "frames": len(views), "scenes": args.scenes,
           "RGB-D frames/s": 1.0 / render_s, "ms/frame": render_s * 1000.0,
           "depth-only frames/s": 1.0 / depth_s, "scene generation s": float(np.mean(generate_s)),
           "lights per view": float(np.mean([len(scene.lights) for scene, _ in views]))}
    body = ("Full frames: ray cast, box-mapped mip-mapped textures, Lambert + Blinn-Phong from every light "
            "with ray-cast shadows, bounce fill, camera model (exposure, white balance, vignetting, noise), "
            "plus depth, normals and instances; random views of several scenes. Single process; the "
            "machine may be shared with other work, so this is a lower bound.\n\n" + markdown_table([row]))
    print(markdown_table([row]))
    if args.record:
        path = write_section(BENCH_SECTION, "Synthetic renderer speed", body)
        print(f"wrote section '{BENCH_SECTION}' of {path}")
    return 0
