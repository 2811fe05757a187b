"""``edgegeo run``: stream a camera, recording or synthetic walk-through through a depth pipeline
(and TSDF fusion) into files — the main job on a device. This module parses the options; the
run is put together by :func:`edgegeo.runtime.assembly.assemble_run`."""
from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    from edgegeo.fusion.tracking import METHODS, REFERENCES
    from edgegeo.runtime.assembly import PIPELINES
    from edgegeo.runtime.backends import CHOICES as BACKEND_CHOICES
    from edgegeo.runtime.stages.mvs import MVS_FRAMES

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

outputs (--sink URI, repeatable; the flags below are short for the URIs in --out):
  ply://DIR[?every=S]        mesh.ply + cloud.ply of the fused map  (--fuse: ply://OUT, unless a
                             --sink ply:// says where; every = --save-every)
  png16://DIR | npy://DIR    every depth frame, 16-bit mm / float32 m  (--save-depth: OUT/depth)
  mp4://PATH[?fps=F]         colour-mapped depth beside the RGB  (--video: OUT/depth.mp4)
  mcap://DIR[?map_every=S]   ROS 2 bag (MCAP): images, camera info, pose, odometry, map
                             cloud (--bag: OUT/bag)
  tum://PATH[?every=S]       camera poses, TUM format  (--fuse or --track: OUT/trajectory.txt)
  zenoh://ENDPOINT           live ROS 2 topics in rmw_zenoh's format (e.g. zenoh://tcp/0.0.0.0:7447)
  ros2://NODE                the same topics from an rclpy node (machines with ROS 2 installed)
stats.json in --out, always

camera tracking: fusing a source without poses (a camera, a recording, a TUM folder without
groundtruth.txt) tracks the camera from its depth (gt or stereo pipeline); tracking state and
lost frames are in the progress line and stats.json""")
    parser.add_argument("--source", required=True, metavar="URI", help="frame source (see below)")
    parser.add_argument("--pipeline", choices=PIPELINES, default="gt",
                        help="depth pipeline (default gt)")
    parser.add_argument("--fuse", action="store_true", help="TSDF-fuse depth into a mesh")
    parser.add_argument("--track", action=argparse.BooleanOptionalAction, default=None,
                        help="estimate camera poses from depth (default: on when fusing a "
                             "source without poses; --track also on a posed source, to compare "
                             "against its poses; --no-track: never)")
    parser.add_argument("--track-reference", choices=REFERENCES, default="keyframe",
                        help="what each frame is registered to (default keyframe; see "
                             "docs/benchmarks.md, tracking)")
    parser.add_argument("--track-method", choices=METHODS, default="point_to_plane",
                        help="registration objective: point_to_plane (geometry) or hybrid "
                             "(geometry + intensity) (default point_to_plane)")
    parser.add_argument("--out", default="out/run", metavar="DIR",
                        help="output folder (default out/run)")
    parser.add_argument("--device-profile", default="auto", metavar="NAME",
                        help="device profile: jetson-orin-nano, jetson-orin-nx, jetson-agx-orin, "
                             "x86-gpu, cpu, a .toml path, or auto (default: detect)")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument("--sink", action="append", default=[], metavar="URI",
                        help="an output by URI (repeatable; see below)")
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
    parser.add_argument("--mvs-frames", choices=MVS_FRAMES, default="keyframes",
                        help="mvs: the frames that get depth: keyframes (DeepVideoMVS, the "
                             "default) or all (sources from the buffered keyframes; a denser "
                             "map for about 1.7x the model's work)")
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


def sink_uris(args: argparse.Namespace) -> list[str]:
    """The run's sink URIs: the output flags turned into the URIs they are short for (in
    ``--out``), then the ``--sink`` ones. ``--fuse`` saves the map into ``--out`` unless a
    ``--sink ply://`` names where it goes; ``--fuse`` or ``--track`` writes the camera
    trajectory there unless a ``--sink tum://`` does."""
    from pathlib import Path
    from urllib.parse import quote

    def in_out(scheme: str, name: str = "", query: str = "") -> str:
        uri = f"{scheme}://{quote(str(Path(args.out, name)), safe='/:')}"
        return f"{uri}?{query}" if query else uri

    uris = []
    def given(scheme: str) -> bool:
        return any(uri.strip().lower().startswith(f"{scheme}://") for uri in args.sink)

    if args.fuse and not given("ply"):
        uris.append(in_out("ply", query=f"every={args.save_every:g}"))
    if (args.fuse or args.track) and not given("tum"):
        uris.append(in_out("tum", "trajectory.txt"))
    if args.save_depth != "none":
        uris.append(in_out(args.save_depth, "depth"))
    if args.video:
        uris.append(in_out("mp4", "depth.mp4"))
    if args.bag:
        uris.append(in_out("mcap", "bag", f"map_every={args.save_every or 10.0:g}"))
    return uris + list(args.sink)


def run_spec(args: argparse.Namespace):
    """The :class:`~edgegeo.runtime.assembly.RunSpec` of the parsed options (ValueError for a
    bad value or combination)."""
    from edgegeo.fusion.tracking import TrackingConfig
    from edgegeo.runtime.assembly import RunSpec

    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.save_every < 0:
        raise ValueError(f"--save-every must be >= 0, got {args.save_every}")
    return RunSpec(source=args.source, pipeline=args.pipeline, fuse=args.fuse,
                   sinks=tuple(sink_uris(args)), profile=args.device_profile,
                   weights=args.weights, backend=args.backend, device=args.device,
                   max_disparity=args.max_disparity, min_sources=args.min_sources,
                   mvs_frames=args.mvs_frames,
                   voxel=args.voxel, max_depth=args.max_depth, track=args.track,
                   tracking=TrackingConfig(reference=args.track_reference,
                                           method=args.track_method))


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from edgegeo.runtime.assembly import assemble_run
    from edgegeo.runtime.sources import SourceError

    spec = run_spec(args)
    logging.basicConfig(level=logging.WARNING, format="edgegeo run: %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        assembled = assemble_run(spec)
    except SourceError as exc:
        print(f"edgegeo run: error: {exc}", file=sys.stderr)
        return 1
    with assembled:
        return _stream(args, out, assembled)


def _stream(args, out, assembled) -> int:
    from edgegeo.runtime.sinks import RosBagSink

    show, every, interactive = _progress_printer(args.progress_every)
    for note in assembled.notes:
        print(f"edgegeo run: {note}", file=sys.stderr)
    pipeline = assembled.pipeline(
        info=dict(command=" ".join(sys.argv), out=str(out), sink_uris=list(assembled.spec.sinks)),
        max_queue=args.queue, policy=args.policy, max_frames=args.max_frames,
        stats_path=out / "stats.json", progress=None if args.quiet else show,
        progress_every_s=every)
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
    track = snapshot["stages"].get("track")
    if track and track.get("state"):
        state = track["state"]
        print(f"tracking: {state['frames']} frames, {state['lost_frames']} lost, "
              f"{state['recoveries']} recoveries, {state['keyframes']} keyframes")
    written = [p for p in ("mesh.ply", "cloud.ply", "trajectory.txt", "depth", "depth.mp4",
                           "stats.json") if (out / p).exists()]
    bag = next((s.path for s in assembled.sinks if isinstance(s, RosBagSink)), None)
    print(f"outputs in {out}: {', '.join(written + ([bag.name] if bag else []))}")
    failed = snapshot["events"]["counts"].get("source-failed", 0)
    if assembled.live_map is not None and assembled.live_map.frames_integrated == 0:
        print("edgegeo run: error: --fuse, but no frame could be fused (see stats.json events "
              "and skip reasons): no map written", file=sys.stderr)
        return 1
    return 1 if failed else 0
