"""``edgegeo run``: stream a camera, recording or synthetic walk-through through a depth pipeline
(and TSDF fusion) into files — the main job on a device (see ``edgegeo.runtime.pipeline``)."""
from __future__ import annotations

import argparse
import sys

PIPELINES = ("gt", "mono", "stereo", "mvs")


def register(subparsers) -> None:
    from edgegeo.runtime.backends import CHOICES as BACKEND_CHOICES

    parser = subparsers.add_parser(
        "run", help="stream a source through a depth pipeline (+ fusion) into files",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Stream frames from --source through a depth pipeline, optionally fuse\n"
                    "them into a TSDF map, and write the results to --out. Stages run in their\n"
                    "own threads with bounded queues: with a live camera the oldest waiting\n"
                    "frame is dropped when a stage falls behind, so latency stays bounded. Bad\n"
                    "frames are reported and skipped. SIGINT/SIGTERM stop the source, drain the\n"
                    "queues and save the map.",
        epilog="""sources:
  realsense://[SERIAL]                          live RealSense (colour + aligned depth + IR)
  file://REC.db3 | file://REC.bag               RealSense recording (?realtime=1 for recorded pace)
  file://VIDEO.mp4                              video (?hfov=60 or ?K=fx,fy,cx,cy)
  file://DIR/                                   TUM / ScanNet-style / synthetic shard, or images
  synthetic://walkthrough?seed=N&frames=M&size=WxH   synthetic room with ground truth
  synthetic://stereo?seed=N&frames=M&baseline=B      synthetic rectified pairs with ground truth
  v4l2:///dev/videoN, csi://N                   plain cameras via OpenCV / GStreamer

pipelines (--weights: the model's .safetensors, default the shipped edgegeo/weights/):
  gt      the source's own depth (RealSense, synthetic, RGB-D folders)
  mono    mono-depth model, scaled per frame to the source's depth
  stereo  stereo model on rectified pairs (synthetic://stereo; a RealSense or recording runs
          on its infrared pair, in the depth camera's geometry: opened with align=0)
  mvs     multi-view model on posed frames (synthetic, posed folders): depth for keyframes,
          other frames pass on without depth

backends (--backend auto): the device profile's preference, falling back tensorrt ->
onnxruntime -> torch: TensorRT if installed and the model exports, ONNX Runtime if it
exports (exported once into the artefact cache), else torch

outputs in --out: mesh.ply + cloud.ply (--fuse; saved every --save-every s and at exit),
stats.json (always), depth/ (--save-depth), depth.mp4 (--video), bag/ (--bag: ROS 2 MCAP)""")
    parser.add_argument("--source", required=True, metavar="URI", help="frame source (see below)")
    parser.add_argument("--pipeline", choices=PIPELINES, default="gt",
                        help="depth pipeline (default gt)")
    parser.add_argument("--fuse", action="store_true", help="TSDF-fuse depth into a mesh")
    parser.add_argument("--out", default="out/run", metavar="DIR",
                        help="output folder (default out/run)")
    parser.add_argument("--device-profile", default="auto", metavar="NAME",
                        help="device profile: jetson-orin-nano, jetson-orin-nx, jetson-agx-orin, "
                             "x86-gpu, cpu, a .toml path, or auto (default: detect)")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument("--save-depth", choices=("none", "png16", "npy"), default="none",
                        help="write every depth frame: png16 (mm) or npy (float32 m)")
    parser.add_argument("--video", action="store_true",
                        help="write depth.mp4 (colour-mapped depth beside the RGB)")
    parser.add_argument("--bag", action="store_true",
                        help="write a ROS 2 bag (MCAP): images, camera info, pose, map cloud")
    parser.add_argument("--save-every", type=float, default=30.0, metavar="SECONDS",
                        help="save the map this often while streaming (default 30; 0 = at exit)")
    parser.add_argument("--voxel", type=float, metavar="M", help="voxel size (default: profile)")
    parser.add_argument("--max-depth", type=float, metavar="M",
                        help="fuse depth up to this distance (default: profile)")
    parser.add_argument("--queue", type=int, metavar="N",
                        help="queue size before each stage (default: profile)")
    parser.add_argument("--policy", choices=("auto", "oldest", "block"), default="auto",
                        help="full-queue policy: oldest = drop the oldest frame, block = "
                             "backpressure; auto = oldest for cameras, block for files")
    parser.add_argument("--weights", metavar="PATH",
                        help="weights of the pipeline's model (.safetensors, model card .json "
                             "beside it; default: the shipped ones)")
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default="auto",
                        help="inference backend (default auto: see below)")
    parser.add_argument("--device", default="cpu",
                        help="torch device for the torch backend (default cpu)")
    parser.add_argument("--max-disparity", type=float, metavar="PX",
                        help="stereo: the largest disparity expected, pixels; pairs beyond the "
                             "model's trained range are shrunk (default: within it)")
    parser.add_argument("--min-sources", type=int, metavar="N",
                        help="mvs: predict once N keyframes are buffered as sources (default: "
                             "all the model's sources)")
    parser.add_argument("--progress-every", type=float, metavar="SECONDS",
                        help="progress line period (default 1 on a terminal, 10 otherwise)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(func=run)


def _progress_printer(every: float | None):
    interactive = sys.stderr.isatty()
    width = [0]

    def show(line: str) -> None:
        if interactive:
            pad = max(width[0] - len(line), 0)
            width[0] = len(line)
            print("\r" + line + " " * pad, end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    return show, (every if every is not None else (1.0 if interactive else 10.0)), interactive


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from edgegeo.devices.profiles import load_profile
    from edgegeo.runtime.sources import SourceError, open_source

    _check_options(args)
    logging.basicConfig(level=logging.WARNING, format="edgegeo run: %(message)s")
    profile = load_profile(args.device_profile)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    uri = _with_profile_camera(args.source, profile)
    if args.pipeline == "stereo":
        uri = _infrared_geometry(uri)
    try:
        source = open_source(uri)
    except SourceError as exc:
        print(f"edgegeo run: error: {exc}", file=sys.stderr)
        return 1
    try:
        _check_source(args, source)
        predictor, inference = _predictor(args, profile) if args.pipeline != "gt" else (None, {})
        return _stream(args, profile, out, source, predictor, inference)
    finally:
        source.close()


def _check_options(args) -> None:
    """Option values and combinations, before anything is opened (ValueError)."""
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.save_every < 0:
        raise ValueError(f"--save-every must be >= 0, got {args.save_every}")
    for option, value, pipelines in (("--weights", args.weights, ("mono", "stereo", "mvs")),
                                     ("--max-disparity", args.max_disparity, ("stereo",)),
                                     ("--min-sources", args.min_sources, ("mvs",))):
        if value is not None and args.pipeline not in pipelines:
            raise ValueError(f"{option} applies to --pipeline {' / '.join(pipelines)}, not "
                             f"{args.pipeline}")
    if args.pipeline == "gt" and args.backend != "auto":
        raise ValueError("--backend applies to the model pipelines (mono, stereo, mvs), not gt")


def _check_source(args, source) -> None:
    """The source gives what the pipeline needs (ValueError naming what is missing)."""
    if args.pipeline == "gt" and source.has_depth is False:
        raise ValueError(f"{args.source} has no depth, which --pipeline gt uses; use a RealSense,"
                         " synthetic or RGB-D source, or --pipeline mono")
    if args.pipeline == "mono" and source.has_depth is False:
        raise ValueError(f"{args.source} has no depth: the mono pipeline scales the model's "
                         "relative depth to the source's depth (RealSense or RGB-D); for "
                         "relative depth of plain images use `edgegeo depth`")
    if args.pipeline == "stereo" and not source.has_stereo:
        from edgegeo.runtime.stereo_stage import NO_PAIR_HELP

        raise ValueError(f"{args.source} gives no rectified stereo pairs: {NO_PAIR_HELP} (with "
                         "the infrared streams on: ir=1)")
    if args.pipeline == "mvs" and source.has_pose is False:
        raise ValueError(f"{args.source} gives no camera poses: the mvs pipeline needs posed "
                         "frames (synthetic://, or a TUM / ScanNet-style / synthetic shard "
                         "folder)")


def _with_profile_camera(uri: str, profile) -> str:
    """A ``realsense://`` URI gets the profile's stream format unless it names its own."""
    from edgegeo.runtime.sources import parse_uri

    parsed = parse_uri(uri)
    if parsed.scheme != "realsense":
        return uri
    width, height, fps = profile.camera
    extra = [f"{key}={value}" for key, value in (("width", width), ("height", height),
                                                 ("fps", fps)) if key not in parsed.options]
    if not extra:
        return uri
    return uri + ("&" if "?" in uri else "?") + "&".join(extra)


def _infrared_geometry(uri: str) -> str:
    """A RealSense camera or recording for the stereo pipeline: frames in the left infrared
    camera's geometry (``align=0``), so that the infrared pair is the frame's stereo pair."""
    from pathlib import Path

    from edgegeo.runtime.sources import parse_uri
    from edgegeo.runtime.sources.uri import RECORDING_SUFFIXES

    parsed = parse_uri(uri)
    recording = parsed.scheme == "file" and Path(parsed.target).suffix.lower() in \
        RECORDING_SUFFIXES
    if parsed.scheme != "realsense" and not recording:
        return uri
    if "align" in parsed.options:
        if parsed.options["align"].lower() not in ("0", "false", "no", "off"):
            raise ValueError(f"{uri}: the stereo pipeline runs on the infrared pair, in the "
                             "depth camera's geometry; drop align=1")
        return uri
    return uri + ("&" if "?" in uri else "?") + "align=0"


def _predictor(args, profile) -> tuple:
    """The pipeline's model on the chosen backend, and what was chosen (for stats.json)."""
    import edgegeo
    from edgegeo.export import available_exports
    from edgegeo.runtime.backends import (PIPELINE_MODELS, choose_backend,
                                          pipeline_model_options, tensorrt_available)

    model = PIPELINE_MODELS[args.pipeline]
    backend, why = choose_backend(model, args.backend, profile.backend_for(model),
                                  exportable=model in available_exports(),
                                  has_tensorrt=tensorrt_available())
    precision = "fp32" if backend == "torch" else profile.precision
    options = pipeline_model_options(args.pipeline, profile, args.max_disparity,
                                     args.min_sources)
    predictor = edgegeo.load(model, backend=backend, device=args.device, precision=precision,
                             weights=args.weights, **options)
    return predictor, dict(model=model, backend=backend, precision=precision, reason=why)


def _fusion(args, profile, notes: list[str]):
    import open3d as o3d

    from edgegeo.fusion import TSDFFusion

    config = profile.fusion_config(voxel_size=args.voxel, max_depth=args.max_depth)
    device = profile.fusion_device
    if device.startswith("CUDA") and not o3d.core.cuda.is_available():
        notes.append(f"fusion on CPU:0 (profile asks {device}; this Open3D has no CUDA)")
        device = "CPU:0"
    return TSDFFusion(config, device=device)


def _stream(args, profile, out, source, predictor, inference: dict) -> int:
    from edgegeo.runtime.pipeline import Pipeline, standard_stages
    from edgegeo.runtime.sinks import DepthFramesSink, DepthVideoSink, MapSink, RosBagSink

    notes: list[str] = []
    if inference:
        notes.append(f"{inference['model']} on {inference['backend']} "
                     f"{inference['precision']} ({inference['reason']})")
    unposed = source.has_pose is False
    if args.fuse and unposed:
        notes.append(f"{args.source} gives no camera poses: frames are not fused (they still "
                     "reach the other outputs); fusion needs a posed source until odometry "
                     "ships")
    fusion = _fusion(args, profile, notes) if args.fuse else None
    stages = standard_stages(args.pipeline, fusion=fusion, predictor=predictor,
                             max_depth=fusion.config.max_depth if fusion else 10.0,
                             pass_unposed=unposed)
    fuse = stages[-1] if fusion is not None else None
    sinks = []
    if fuse is not None:
        sinks.append(MapSink(fuse, out, every_s=args.save_every))
    if args.save_depth != "none":
        sinks.append(DepthFramesSink(out / "depth", fmt=args.save_depth))
    if args.video:
        sinks.append(DepthVideoSink(out / "depth.mp4", fps=getattr(source, "fps", None) or 10.0,
                                    max_depth=fusion.config.max_depth if fusion else None))
    if args.bag:
        sinks.append(RosBagSink(out / "bag", fuse=fuse, map_every_s=args.save_every or 10.0))
    show, every, interactive = _progress_printer(args.progress_every)
    for note in notes:
        print(f"edgegeo run: {note}", file=sys.stderr)
    pipeline = Pipeline(
        source, stages, sinks, max_queue=args.queue or profile.max_queue, policy=args.policy,
        max_frames=args.max_frames, stats_path=out / "stats.json",
        progress=None if args.quiet else show, progress_every_s=every,
        memory_budget_mib=profile.memory_budget_mib,
        info=dict(command=" ".join(sys.argv), pipeline=args.pipeline, fuse=args.fuse,
                  profile=profile.as_dict(), backend=inference.get("backend"),
                  inference=inference or None,
                  fusion=vars(fusion.config) if fusion else None, notes=notes,
                  out=str(out)))
    stats = pipeline.run()
    if interactive and not args.quiet:
        print(file=sys.stderr)
    snapshot = stats.snapshot()
    print(f"{snapshot['frames_out']} frames in {snapshot['elapsed_s']:.1f} s "
          f"({snapshot['fps']:.1f} fps), dropped {stats.dropped()}, errors {stats.errors()}; "
          f"stopped: {snapshot['stop_reason']}")
    depth_stage = snapshot["stages"].get(args.pipeline)
    if depth_stage and depth_stage["skipped"]:
        reasons = ", ".join(f"{count} {reason}"
                            for reason, count in depth_stage["skip_reasons"].items())
        print(f"{args.pipeline} depth for {depth_stage['processed'] - depth_stage['skipped']} "
              f"frames; passed on without depth: {reasons}")
    written = [p for p in ("mesh.ply", "cloud.ply", "depth", "depth.mp4", "stats.json")
               if (out / p).exists()]
    bag = next((s.path for s in sinks if isinstance(s, RosBagSink)), None)
    print(f"outputs in {out}: {', '.join(written + ([bag.name] if bag else []))}")
    failed = snapshot["events"]["counts"].get("source-failed", 0)
    return 1 if failed else 0
