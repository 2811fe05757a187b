"""``edgegeo fuse``: TSDF-fuse a posed sequence into a mesh, from its own depth maps (``gt``) or
from depth the ``mvs`` model predicts from its posed RGB frames."""
from __future__ import annotations

import sys

DEPTH_SOURCES = ("gt", "mvs")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fuse", help="TSDF-fuse a posed RGB-D sequence into a mesh",
        description="Fuse the depth maps of a posed sequence (TUM RGB-D folder, ScanNet-style "
                    "export, or synthetic shards from 'edgegeo data render') into a coloured "
                    "mesh with Open3D's VoxelBlockGrid, and save it as PLY. With '--depth mvs' "
                    "the depth is predicted by the multi-view model from the posed RGB frames "
                    "through its keyframe stream (DeepVideoMVS rule); frames that are not "
                    "keyframes, or come before enough keyframes are buffered as sources, are "
                    "skipped and counted.")
    parser.add_argument("--source", required=True, metavar="DIR", help="sequence folder")
    parser.add_argument("--depth", choices=DEPTH_SOURCES, default="gt",
                        help="depth to fuse: 'gt' = the sequence's own depth maps, 'mvs' = "
                             "predicted by the mvs model (default gt)")
    parser.add_argument("--weights", metavar="PATH",
                        help="with --depth mvs: the model's .safetensors (model card .json "
                             "beside it; default: the shipped edgegeo/weights/mvs.safetensors)")
    parser.add_argument("--min-sources", type=int, metavar="N",
                        help="with --depth mvs: predict once N keyframes are buffered as "
                             "sources (default: all the model's sources, 7 for the shipped one)")
    parser.add_argument("--out", required=True, metavar="MESH.ply", help="output mesh (PLY)")
    parser.add_argument("--cloud", metavar="CLOUD.ply", help="also save the fused point cloud")
    parser.add_argument("--voxel", type=float, default=0.04, help="voxel size, m (default 0.04)")
    parser.add_argument("--trunc", type=float, default=0.12,
                        help="truncation distance, m (default 0.12)")
    parser.add_argument("--max-depth", type=float, default=3.0,
                        help="ignore depth beyond this, m (default 3.0)")
    parser.add_argument("--stride", type=int, default=1, help="use every N-th frame (default 1)")
    parser.add_argument("--no-color", action="store_true", help="fuse geometry only")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first bad frame (missing or corrupt file, no pose, "
                             "depth that does not match the image) instead of skipping and "
                             "reporting it, as `edgegeo run` does")
    parser.set_defaults(func=run)


def mvs_stream(weights: str | None, min_sources: int | None):
    """An :class:`~edgegeo.models.mvs.MVSStream` over ``edgegeo.load("mvs")``.

    Args:
        weights: ``.safetensors`` path, or None for the shipped weights.
        min_sources: fewest keyframe sources to predict with (None: the model's count).
    Raises:
        FileNotFoundError: no weights there (the message says how to train them).
        ValueError: ``min_sources`` outside ``[1, num_sources]``.
    """
    from pathlib import Path

    import edgegeo
    from edgegeo.models.mvs import MVSStream

    if weights is not None and not Path(weights).is_file():
        raise FileNotFoundError(f"--weights {weights}: no such file (train mvs weights with "
                                "`edgegeo train mvs`)")
    options = {} if min_sources is None else {"min_sources": min_sources}
    return MVSStream(edgegeo.load("mvs", weights=weights, **options))


def _depth_to_fuse(frame, stream, source: str):
    """The depth to fuse for ``frame`` (None: mvs predicted none for it); ValueError naming
    what makes the frame unusable."""
    if frame.world_T_cam is None:
        raise ValueError("no pose")
    if stream is not None:
        return stream.push(frame)
    if frame.depth is None:
        raise ValueError(f"no depth (fuse predicted depth of {source} with --depth mvs)")
    if frame.depth.shape != frame.rgb.shape[:2]:
        raise ValueError(f"depth {frame.depth.shape[1]}x{frame.depth.shape[0]} does not match "
                         f"the image {frame.rgb.shape[1]}x{frame.rgb.shape[0]} its intrinsics "
                         "describe")
    return frame.depth


def run(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from edgegeo.data.sequences import open_posed_sequence
    from edgegeo.fusion import FusionConfig, TSDFFusion

    if args.stride < 1:
        raise ValueError(f"--stride must be >= 1, got {args.stride}")
    if args.depth != "mvs" and (args.weights is not None or args.min_sources is not None):
        raise ValueError("--weights and --min-sources only apply to --depth mvs")
    sequence = open_posed_sequence(args.source)
    stream = mvs_stream(args.weights, args.min_sources) if args.depth == "mvs" else None
    fusion = TSDFFusion(FusionConfig(voxel_size=args.voxel, trunc=args.trunc,
                                     max_depth=args.max_depth, color=not args.no_color))
    not_keyframes = too_few_sources = 0
    bad: list[str] = []
    indices = range(0, len(sequence), args.stride)
    for index in tqdm(indices, desc="fusing", unit="frame"):
        try:
            frame = sequence[index]
            keyframe = (stream is not None and frame.world_T_cam is not None
                        and stream.buffer.is_keyframe(frame.world_T_cam))
            depth = _depth_to_fuse(frame, stream, args.source)
            if depth is None:
                too_few_sources += keyframe
                not_keyframes += not keyframe
                continue
            fusion.integrate(depth, frame.K, frame.world_T_cam, frame.rgb)
        except (ValueError, OSError) as exc:
            if args.strict:
                raise
            bad.append(f"frame {index}: {exc}")
    for line in bad[:10]:
        print(f"edgegeo fuse: skipped {line}", file=sys.stderr)
    if len(bad) > 10:
        print(f"edgegeo fuse: ... and {len(bad) - 10} more bad frames", file=sys.stderr)
    if fusion.frames_integrated == 0:
        print(f"edgegeo fuse: error: no frame of {args.source} could be fused ({len(bad)} bad "
              f"of {len(indices)}); no mesh written", file=sys.stderr)
        return 1
    mesh = fusion.save_mesh(args.out)
    if args.cloud:
        fusion.save_point_cloud(args.cloud)
    ms = 1000 * np.asarray(fusion.integrate_seconds or [0.0])
    print(f"{fusion.frames_integrated} frames fused ({np.median(ms):.1f} ms/frame median); "
          f"{len(mesh.triangles)} triangles -> {args.out}"
          + (f"; {len(bad)} bad frames skipped" if bad else ""))
    if stream is not None:
        predicted = len(indices) - not_keyframes - too_few_sources
        print(f"mvs depth for {predicted} of {len(indices)} frames; skipped {not_keyframes} "
              f"(not keyframes) + {too_few_sources} (fewer than "
              f"{stream.predictor.min_sources} keyframe sources buffered yet)")
    return 0
