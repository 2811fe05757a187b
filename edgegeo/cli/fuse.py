"""``edgegeo fuse``: TSDF-fuse a posed RGB-D sequence into a mesh."""
from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fuse", help="TSDF-fuse a posed RGB-D sequence into a mesh",
        description="Fuse the depth maps of a posed sequence (TUM RGB-D folder, ScanNet-style "
                    "export, or synthetic shards from 'edgegeo data render') into a coloured "
                    "mesh with Open3D's VoxelBlockGrid, and save it as PLY.")
    parser.add_argument("--source", required=True, metavar="DIR", help="sequence folder")
    parser.add_argument("--depth", choices=["gt"], default="gt",
                        help="depth to fuse: 'gt' = the sequence's own depth maps")
    parser.add_argument("--out", required=True, metavar="MESH.ply", help="output mesh (PLY)")
    parser.add_argument("--cloud", metavar="CLOUD.ply", help="also save the fused point cloud")
    parser.add_argument("--voxel", type=float, default=0.04, help="voxel size, m (default 0.04)")
    parser.add_argument("--trunc", type=float, default=0.12,
                        help="truncation distance, m (default 0.12)")
    parser.add_argument("--max-depth", type=float, default=3.0,
                        help="ignore depth beyond this, m (default 3.0)")
    parser.add_argument("--stride", type=int, default=1, help="use every N-th frame (default 1)")
    parser.add_argument("--no-color", action="store_true", help="fuse geometry only")
    parser.set_defaults(func=run)


def run(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from edgegeo.data.sequences import open_posed_sequence
    from edgegeo.runtime.fusion import FusionConfig, TSDFFusion

    if args.stride < 1:
        raise ValueError(f"--stride must be >= 1, got {args.stride}")
    sequence = open_posed_sequence(args.source)
    fusion = TSDFFusion(FusionConfig(voxel_size=args.voxel, trunc=args.trunc,
                                     max_depth=args.max_depth, color=not args.no_color))
    for index in tqdm(range(0, len(sequence), args.stride), desc="fusing", unit="frame"):
        frame = sequence[index]
        if frame.depth is None or frame.world_T_cam is None:
            raise ValueError(f"frame {index} of {args.source} has no depth or no pose")
        fusion.integrate(frame.depth, frame.K, frame.world_T_cam, frame.rgb)
    mesh = fusion.save_mesh(args.out)
    if args.cloud:
        fusion.save_point_cloud(args.cloud)
    ms = 1000 * np.asarray(fusion.integrate_seconds or [0.0])
    print(f"{fusion.frames_integrated} frames fused ({np.median(ms):.1f} ms/frame median); "
          f"{len(mesh.triangles)} triangles -> {args.out}")
    return 0
