"""``edgegeo bench``: benchmarks that print their tables (and save their files under ``--out``);
with ``--record`` each also writes its section of docs/benchmarks.md.

One sub-subcommand per benchmark. To add one, write ``_add_<name>(benchmarks)`` that adds its
parser, :func:`edgegeo.bench_report.add_record_argument` and ``set_defaults(func=...)``, calls
``write_section`` only when ``args.record``, and append it to ``BENCHMARKS``.
"""
from __future__ import annotations

import argparse
import re

OP_SECTION = "adaptive-conv-op"
UPSAMPLE_SECTION = "upsample-depth"
UPSAMPLE_PICTURE = "jbu_depth_x4.png"
MVS_SECTION = "mvs"
RUNTIME_SECTION = "runtime"
TRACKING_SECTION = "tracking"
ROBUSTNESS_SECTION = "robustness"
SOAK_SECTION = "soak"


def _run_op(args: argparse.Namespace) -> int:
    import torch

    from edgegeo.bench_report import write_section
    from edgegeo.bench.op import report_body, run_benchmark

    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    rows = run_benchmark(args.channels, args.size, args.radius, args.repeats,
                         args.max_reference_gib)
    body = report_body(rows, args.size, args.radius, args.repeats, torch.get_num_threads())
    print(body)
    if args.record:
        path = write_section(OP_SECTION, "adaptive_conv op: Cython vs unfold", body)
        print(f"wrote {path}")
    return 0


def _add_op(benchmarks) -> None:
    from edgegeo.bench_report import add_record_argument

    parser = benchmarks.add_parser(
        "op", help="adaptive_conv (Cython) vs unfold+einsum: time and peak memory",
        description="Time and peak memory of the per-pixel adaptive convolution "
                    "(edgegeo.ops.adaptive_conv) against the unfold+einsum reference, forward "
                    "and forward+backward, B=1; prints the table (--record: also writes "
                    f"section '{OP_SECTION}' of docs/benchmarks.md).")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--channels", type=int, nargs="+", default=[1, 3, 64, 384],
                        help="channel counts C (default 1 3 64 384)")
    parser.add_argument("--size", type=int, default=224, help="output height = width (default 224)")
    parser.add_argument("--radius", type=int, default=3, help="window radius r (default 3)")
    parser.add_argument("--max-reference-gib", type=float, default=8.0,
                        help="skip reference runs estimated to need more memory (default 8)")
    add_record_argument(parser, OP_SECTION)
    parser.set_defaults(func=_run_op)


def _run_upsample(args: argparse.Namespace) -> int:
    from edgegeo.bench_report import link, picture_path, write_section
    from edgegeo.bench import jbu as jbu_bench

    for name in ("scale", "tune_frames", "test_frames", "feature_images"):
        if getattr(args, name) < (1 if name == "scale" else 0):
            raise ValueError(f"--{name.replace('_', '-')} must be >= "
                             f"{1 if name == 'scale' else 0}, got {getattr(args, name)}")
    grids = None
    if args.quick:
        grids = {"opencv_jbf": {"d": [9], "sigma_color": [8.0, 16.0], "sigma_space": [4.0]},
                 "guided_filter": {"radius": [2, 4], "eps": [1e-3]},
                 "fixed_jbu": {"radius": [args.scale], "sigma_spatial": [3.0],
                               "sigma_range": [0.03, 0.1]}}
    render = None if args.no_render else (20, 4, 320, 240)
    rows, info = jbu_bench.run_depth_benchmark(
        args.test_data, args.train_data, args.scale, args.tune_frames, args.test_frames,
        args.weights, grids, render)
    picture = None
    if args.picture is None:
        args.picture = picture_path(UPSAMPLE_PICTURE, args.out, args.record)
    if args.picture:
        short = {"bicubic": "bicubic", "OpenCV ximgproc.jointBilateralFilter": "OpenCV JBF",
                 "OpenCV ximgproc.guidedFilter": "guided filter",
                 "fixed JBU (edgegeo.ops)": "fixed JBU", "learned JBU (ours)": "learned JBU"}
        methods = [(short[label], method) for label, _, method in info["methods"]
                   if label in short]
        path = jbu_bench.error_picture(args.picture, methods,
                                       info["samples"][args.picture_frame % len(info["samples"])])
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
        picture = link(path)
    features = None
    if args.feature_weights:
        features = jbu_bench.feature_rows(args.feature_weights, args.feature_images,
                                          args.test_data)
    body = jbu_bench.report_body(rows, info, args.scale, features[0] if features else None,
                                 features[1] if features else "", picture)
    print(body)
    if args.record:
        path = write_section(UPSAMPLE_SECTION, f"Depth x{args.scale} upsampling: learned JBU "
                             "vs interpolation and bilateral/guided filters", body)
        print(f"wrote {path}")
    return 0


def _add_upsample(benchmarks) -> None:
    from pathlib import Path

    from edgegeo.bench_report import add_record_argument

    parser = benchmarks.add_parser(
        "upsample", help="depth upsampling: learned JBU vs bilinear/bicubic/OpenCV/fixed JBU",
        description="Depth xN upsampling on held-out synthetic frames (TEST seeds; rendered "
                    "into --test-data when missing): RMSE / AbsRel / a105 of bilinear, "
                    "bicubic, OpenCV ximgproc.jointBilateralFilter and guidedFilter (on the "
                    "bilinear upsampling), the fixed JBU op and the learned JBU; the filters' "
                    "parameters are tuned on training frames (TRAIN seeds). Prints the table "
                    "and saves an error-map picture under --out; --record also writes section "
                    f"'{UPSAMPLE_SECTION}' of docs/benchmarks.md (with the feature-upsampling "
                    "rows when a jbu-features run exists) and saves the picture it links to in "
                    "docs/images/.")
    parser.add_argument("--test-data", type=Path, default=Path("data/synth-test"),
                        help="held-out shards (default data/synth-test)")
    parser.add_argument("--train-data", type=Path, default=Path("data/synth-train"),
                        help="training shards the filters are tuned on (default "
                             "data/synth-train)")
    parser.add_argument("--scale", type=int, default=4, help="upsampling factor (default 4)")
    parser.add_argument("--tune-frames", type=int, default=24,
                        help="training frames for tuning (default 24)")
    parser.add_argument("--test-frames", type=int, default=0,
                        help="test frames, evenly spaced (default 0 = all)")
    parser.add_argument("--weights", type=Path,
                        help="learned JBU weights (default: the shipped jbu)")
    parser.add_argument("--out", type=Path, default=Path("out/bench-upsample"),
                        help="folder for the picture (default out/bench-upsample)")
    parser.add_argument("--picture",
                        help=f"error-map picture to write ('' = none; default "
                             f"OUT/{UPSAMPLE_PICTURE}, with --record "
                             f"docs/images/{UPSAMPLE_PICTURE})")
    parser.add_argument("--picture-frame", type=int, default=5,
                        help="index of the test frame shown in the picture (default 5)")
    parser.add_argument("--feature-weights",
                        default="runs/jbu-features/jbu-features.safetensors",
                        help="a jbu-features run whose held-out reconstruction rows to add "
                             "('' = none; skipped when absent)")
    parser.add_argument("--feature-images", type=int, default=16,
                        help="held-out images for the feature rows (default 16)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny tuning grids (tests, quick looks; not for reported numbers)")
    parser.add_argument("--no-render", action="store_true",
                        help="fail instead of rendering missing test shards")
    add_record_argument(parser, UPSAMPLE_SECTION)
    parser.set_defaults(func=_run_upsample)


def _run_mvs(args: argparse.Namespace) -> int:
    from pathlib import Path

    from edgegeo.bench_report import link, write_section
    from edgegeo.bench import mvs as bench
    from edgegeo.bench.mvs_pictures import save_pictures
    from edgegeo.weights_io import WEIGHTS_DIR

    for name, low in (("scenes", 1), ("frames", 2), ("mesh_points", 1)):
        if getattr(args, name) < low:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {low}, got "
                             f"{getattr(args, name)}")
    weights = []
    for item in args.weights or [f"mvs={Path(WEIGHTS_DIR) / 'mvs.safetensors'}"]:
        label, _, path = item.partition("=")
        resolution, backend = None, "torch"
        runtime = re.fullmatch(r"(.*):((?:onnxruntime|tensorrt)-\w+)", path.strip())
        if runtime:
            path, backend = runtime.groups()
        size = re.fullmatch(r"(.*)@(\d+)x(\d+)", path.strip())
        if size:
            path, resolution = size.group(1), (int(size.group(3)), int(size.group(2)))
        if not label.strip() or not path.strip():
            raise ValueError(f"--weights {item!r} must look like NAME=PATH, NAME=PATH@WxH or "
                             "NAME=PATH@WxH:onnxruntime-fp32")
        weights.append((label.strip(), Path(path.strip()), resolution, backend))
    methods = bench.load_methods(weights, args.mono, args.device, args.min_sources)
    results, outputs, info = bench.run_benchmark(methods, args.scenes, args.frames, args.fps,
                                                 args.mesh_points)
    written = save_pictures(outputs, args.out, bench.GT_LABEL)
    pictures = [(f"{label}: {path.stem.split('_')[0]} (scene {info['seeds'][0]})",
                 link(path)) for label, paths in written.items() for path in paths]
    tables = bench.tables(results)
    print("\n\n".join(tables.values()))
    print(f"pictures: {', '.join(str(p) for paths in written.values() for p in paths)}")
    if args.record:
        body = bench.report_body(results, info, methods, pictures, args.min_sources,
                                 args.device)
        path = write_section(MVS_SECTION, "Multi-view depth on held-out synthetic "
                             "walk-throughs", body)
        print(f"wrote {path}")
    return 0


def _add_mvs(benchmarks) -> None:
    from pathlib import Path

    from edgegeo.bench_report import add_record_argument

    parser = benchmarks.add_parser(
        "mvs", help="multi-view depth: depth and fused-mesh metrics, latency split",
        description="Run mvs models (and optionally a mono-depth model aligned to GT by a "
                    "least-squares scale + shift in inverse depth) through the keyframe stream "
                    "on held-out synthetic walk-throughs (TEST_SEEDS, rendered on the fly at the "
                    "first model's working resolution): AbsRel, δ<1.05, δ<1.25, RMSE; TSDF "
                    "fusion of GT and predicted depth scored against the GT surface the "
                    "cameras saw (accuracy, completeness, chamfer, F-score@5cm); latency split "
                    "into cost volume / network / fusion; parameters. Prints the tables and "
                    "saves depth/error strips and mesh renderings under --out; --record also "
                    f"writes section '{MVS_SECTION}' of docs/benchmarks.md, linking the "
                    "pictures where --out has them.")
    parser.add_argument("--weights", action="extend", nargs="+",
                        metavar="NAME=PATH[@WxH][:BACKEND]",
                        help="mvs weights to evaluate, one row each (e.g. --weights "
                             "metadata=runs/mvs/mvs.safetensors dot=runs/mvs-dot/"
                             "mvs.safetensors; repeatable; default: "
                             "mvs=edgegeo/weights/mvs.safetensors); @WxH runs the model at "
                             "that working resolution instead of its card's (e.g. "
                             "old=old/mvs.safetensors@384x288); :BACKEND runs the network "
                             "exported on onnxruntime-fp32|fp16|int8 or tensorrt-… (e.g. "
                             "ort=edgegeo/weights/mvs.safetensors@256x192:onnxruntime-fp32); "
                             "the first sets the rendering resolution")
    parser.add_argument("--mono", type=Path, metavar="PATH",
                        help="also evaluate these mono-depth weights (row 'mono')")
    parser.add_argument("--scenes", type=int, default=4, help="held-out scenes (default 4)")
    parser.add_argument("--frames", type=int, default=60, help="frames per scene (default 60)")
    parser.add_argument("--fps", type=float, default=5.0,
                        help="walk-through frame rate at 0.35 m/s (default 5: 7 cm per frame, "
                             "as the mvs recipe trains)")
    parser.add_argument("--min-sources", type=int, metavar="N",
                        help="predict once N keyframe sources are buffered (default: each "
                             "model's number of sources)")
    parser.add_argument("--mesh-points", type=int, default=200_000,
                        help="GT surface points and samples per fused mesh (default 200000)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--out", type=Path, default=Path("out/bench-mvs"),
                        help="folder for the pictures (default out/bench-mvs; e.g. "
                             "docs/images/mvs with --record, for pictures the docs keep)")
    add_record_argument(parser, MVS_SECTION)
    parser.set_defaults(func=_run_mvs)


def _run_runtime(args: argparse.Namespace) -> int:
    from edgegeo.bench_report import write_section
    from edgegeo.cli.demo import parse_size
    from edgegeo.runtime.bench import BenchConfig, run_benchmark
    from edgegeo.runtime.bench_tables import report_body, tables

    config = BenchConfig(frames=args.frames, pipelines=_names(args.pipelines),
                         backends=_names(args.backends), size=parse_size(args.size),
                         weights_dir=args.weights_dir, out=args.out,
                         device_profile=args.device_profile, mesh_points=args.mesh_points)
    results = run_benchmark(config)
    print("\n\n".join(tables(results).values()))
    if args.record:
        path = write_section(RUNTIME_SECTION, "Streaming runtime: throughput, latency, "
                             "overhead, fusion", report_body(results, args.out))
        print(f"wrote {path}")
    return 0


def _names(text: str) -> tuple[str, ...]:
    """``"a,b"`` → ``("a", "b")`` (blanks around names ignored)."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _add_runtime(benchmarks) -> None:
    from edgegeo.bench_report import add_record_argument
    from edgegeo.runtime.bench import BACKENDS, DEFAULT_BACKENDS, PIPELINES

    parser = benchmarks.add_parser(
        "runtime", help="streaming runtime: fps, stage latency, overhead, streamed fusion",
        description="Stream each pipeline (gt, mono, stereo, mvs; with TSDF fusion, as "
                    "'edgegeo run --fuse' builds it on the device profile) on each backend "
                    "over frames rendered beforehand (held-out synthetic room): fps and "
                    "per-stage latency (median / p95) from the runtime's own statistics; the "
                    "runtime's overhead (wall time per frame vs the same stages back to back "
                    "in one thread); the gt pipeline's streamed mesh vs TSDFFusion fed the "
                    "same frames directly (F-score@5cm against the surface the cameras saw). "
                    "Models load, export (into the artefact cache, $EDGEGEO_CACHE) and warm "
                    "up before timing; a model without weights gets a 'not shipped' row. "
                    "Prints the tables and saves each run's stats.json under --out; --record "
                    f"also writes section '{RUNTIME_SECTION}' of docs/benchmarks.md.")
    parser.add_argument("--frames", type=int, default=60,
                        help="frames per pipeline and backend (default 60)")
    parser.add_argument("--pipelines", default=",".join(PIPELINES), metavar="LIST",
                        help=f"comma-separated, of {','.join(PIPELINES)} (default all)")
    parser.add_argument("--backends", default=",".join(DEFAULT_BACKENDS), metavar="LIST",
                        help=f"comma-separated, of {','.join(BACKENDS)} (default "
                             f"{','.join(DEFAULT_BACKENDS)}); gt has no model")
    parser.add_argument("--weights-dir", metavar="DIR",
                        help="look for the models' <name>.safetensors (and .json cards) here "
                             "instead of the shipped edgegeo/weights/")
    parser.add_argument("--size", default="256x192", metavar="WxH",
                        help="rendered frame size in pixels (default 256x192, the synthetic "
                             "sources' default)")
    parser.add_argument("--device-profile", default="auto", metavar="NAME",
                        help="device profile, as for 'edgegeo run' (default: detect)")
    parser.add_argument("--mesh-points", type=int, default=100_000,
                        help="points sampled on the seen GT surface and on each mesh "
                             "(default 100000)")
    parser.add_argument("--out", default="out/bench-runtime", metavar="DIR",
                        help="folder for each run's stats.json (default out/bench-runtime)")
    add_record_argument(parser, RUNTIME_SECTION)
    parser.set_defaults(func=_run_runtime)


def _run_tracking(args: argparse.Namespace) -> int:
    from edgegeo.bench import tracking as bench
    from edgegeo.bench_report import link, picture_path, write_section

    if args.scenes < 1 or args.frames < 40:
        raise ValueError(f"need --scenes >= 1 and --frames >= 40 (the fast-motion variant "
                         f"starts after 2 s), got {args.scenes}, {args.frames}")
    results = bench.run_benchmark(args.scenes, args.frames)
    tables = bench.tables(results)
    print("\n\n".join(tables.values()))
    first = next(r for r in results if r.variant == "clean" and r.reference == "keyframe")
    picture = bench.save_trajectory_picture(
        first, picture_path("tracking_trajectory.png", args.out, args.record))
    print(f"picture: {picture}")
    if args.record:
        path = write_section(TRACKING_SECTION, "RGB-D camera tracking + fusion on held-out "
                             "walk-throughs without poses",
                             bench.report_body(results, tables, link(picture)))
        print(f"wrote {path}")
    return 0


def _add_tracking(benchmarks) -> None:
    from pathlib import Path

    from edgegeo.bench_report import add_record_argument

    parser = benchmarks.add_parser(
        "tracking", help="camera tracking + fusion: ATE, RPE, lost frames, map F-score, fps",
        description="Render held-out walk-throughs at 640x480 and 424x240, write them as TUM "
                    "folders without ground truth, run 'edgegeo run --pipeline gt --fuse' on "
                    "them (tracking on) and on variants (sensor-like noise and holes, 10 % "
                    "dropped frames, fast motion), and measure ATE / RPE against the true "
                    "poses, lost frames, the tracked map's F-score@5cm against the true-pose "
                    "map, and fps with the stage split; compare keyframe / frame / model "
                    "references and point-to-plane / hybrid. Prints the tables and saves a "
                    "trajectory picture under --out; --record also writes section "
                    f"'{TRACKING_SECTION}' of docs/benchmarks.md.")
    parser.add_argument("--scenes", type=int, default=3, help="held-out scenes (default 3)")
    parser.add_argument("--frames", type=int, default=90,
                        help="frames per walk-through at 15 fps (default 90)")
    parser.add_argument("--out", type=Path, default=Path("out/bench-tracking"),
                        help="folder for the picture (default out/bench-tracking)")
    add_record_argument(parser, TRACKING_SECTION)
    parser.set_defaults(func=_run_tracking)


def _run_robustness(args: argparse.Namespace) -> int:
    from edgegeo.bench import robustness as bench
    from edgegeo.bench_report import write_section

    if not args.timeout > 0:
        raise ValueError(f"--timeout must be > 0, got {args.timeout}")
    from edgegeo.cli import main

    rows = bench.run_sweep(args.timeout, cli_main=main)
    outcomes, costs = bench.tables(rows, bench.validation_cost_us())
    print(outcomes + "\n\n" + costs)
    if args.record:
        body = ("Each input runs in a forked child under a time limit of "
                f"{args.timeout:g} s (module docstring of `edgegeo/bench/robustness.py`: the "
                "outcome classes and the cases). Silent failures, unclear errors, hangs and "
                "crashes must stay at 0.\n\n" + outcomes
                + "\n\nWhat the checks before the backend cost (median of 200 calls):\n\n"
                + costs)
        path = write_section(ROBUSTNESS_SECTION, "Bad input: adversarial sweep of the public "
                             "API", body)
        print(f"wrote {path}")
    bad = [row for row in rows if row["outcome"] not in ("clear error", "valid")]
    return 1 if bad else 0


def _add_robustness(benchmarks) -> None:
    from edgegeo.bench_report import add_record_argument

    parser = benchmarks.add_parser(
        "robustness", help="adversarial inputs against the public API: how each one ends",
        description="Run the adversarial sweep (bad shapes, dtypes, NaN/inf/huge values, "
                    "implausible intrinsics and poses, out-of-range op parameters and configs, "
                    "hostile image files) against the models, fusion, tracking, the bilateral "
                    "op, the readers and the CLI, each input in a forked child under a time "
                    "limit; print how many ended as a clear error, a valid result, a silent "
                    "failure, an unclear error, a hang or a crash, and what validation costs "
                    "per call. Exits 1 if any input ended other than clearly. --record also "
                    f"writes section '{ROBUSTNESS_SECTION}' of docs/benchmarks.md.")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds before an input counts as a hang (default 30)")
    add_record_argument(parser, ROBUSTNESS_SECTION)
    parser.set_defaults(func=_run_robustness)


def _run_soak(args: argparse.Namespace) -> int:
    from edgegeo.bench import soak as bench
    from edgegeo.bench_report import link, picture_path, write_section

    if args.frames < 500:
        raise ValueError(f"--frames must be >= 500 for a soak, got {args.frames}")
    result = bench.run_soak(args.frames)
    picture = picture_path("soak.png", args.out, args.record)
    bench.save_plot(result, picture)
    body = bench.report_body(result, args.frames, link(picture))
    print(body)
    if args.record:
        print(f"wrote {write_section(SOAK_SECTION, 'Soak: the service pipeline over time', body)}")
    leaked = result["rss_growth"] > bench.MAX_RSS_GROWTH or \
        result["fds"][1] > result["fds"][0] + 2 or result["threads"][1] > result["threads"][0] + 2
    return 1 if leaked else 0


def _add_soak(benchmarks) -> None:
    from pathlib import Path

    from edgegeo.bench_report import add_record_argument

    parser = benchmarks.add_parser(
        "soak", help="a long run of gt + fusion + zenoh: memory, fds, threads, fps over time",
        description="Replay a held-out walk-through for --frames frames through the gt "
                    "pipeline with fusion and the live ROS 2 zenoh sink (127.0.0.1), sampling "
                    "RSS, open fds, threads, fps and the message rate every second; exits 1 "
                    "if RSS grows over 5 % after warm-up or fds / threads grow. Saves a plot "
                    f"under --out; --record writes section '{SOAK_SECTION}'.")
    parser.add_argument("--frames", type=int, default=10_000, help="frames (default 10000)")
    parser.add_argument("--out", type=Path, default=Path("out/bench-soak"),
                        help="folder for the plot (default out/bench-soak)")
    add_record_argument(parser, SOAK_SECTION)
    parser.set_defaults(func=_run_soak)


BENCHMARKS = [_add_op, _add_upsample, _add_mvs, _add_runtime, _add_tracking, _add_robustness,
              _add_soak]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="run a benchmark (--record: record it in docs/benchmarks.md)",
        description="Benchmarks; each prints its tables and saves its files under its --out "
                    "folder. With --record each also writes its own section of "
                    "docs/benchmarks.md, with the machine and the command.")
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for add in BENCHMARKS:
        add(benchmarks)
