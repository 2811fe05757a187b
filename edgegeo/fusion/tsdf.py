"""TSDF fusion of posed depth frames into a mesh, on Open3D's tensor ``VoxelBlockGrid``.

This is the fusion every edgegeo pipeline uses. Open3D's legacy ``ScalableTSDFVolume`` is not
used: on Open3D 0.20.0 it returns empty meshes (``tests/test_fusion.py`` checks that ours does
not). Likewise ``VoxelBlockGrid.extract_point_cloud`` returns no points there, so the fused point
cloud is the coloured isosurface (the mesh's vertices).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open3d as o3d
import open3d.core as o3c

from edgegeo.geometry import invert_pose, validate_K, validate_pose
from edgegeo.limits import MAX_DISTANCE_M, check_distances, check_intrinsics_for_image

# Open3D allocates voxel blocks only from every 4th pixel in each axis (from (0, 0), over
# H // 4 x W // 4 of them) and aborts ("No block is touched") when none of those pixels has
# depth in range.
BLOCK_TOUCH_STRIDE = 4
VOXEL_RANGE_M = (1e-3, 1.0)
MAX_TRUNC_VOXELS = 32


@dataclass(frozen=True)
class FusionConfig:
    """TSDF parameters (SimpleRecon's defaults).

    Attributes:
        voxel_size: voxel edge in metres.
        trunc: truncation distance in metres (a multiple of ``voxel_size`` internally).
        max_depth: depths beyond this (metres) are ignored.
        min_depth: depths below this (metres) are ignored (sensor blind zone / noise).
        color: also fuse colour (needs ``rgb`` in ``integrate``).
        weight_threshold: a voxel is meshed when its weight (1 per frame that saw it) is
            above this (Open3D compares strictly): the default 1.0 meshes what at least
            two frames saw, dropping single-frame noise; 0 meshes everything seen.
        block_resolution: voxels per hash-block edge.
        initial_blocks: initial hash-map capacity in blocks (it grows when needed).
    """

    voxel_size: float = 0.04
    trunc: float = 0.12
    max_depth: float = 3.0
    min_depth: float = 0.1
    color: bool = True
    weight_threshold: float = 1.0
    block_resolution: int = 8
    initial_blocks: int = 4000

    def __post_init__(self):
        for name in ("voxel_size", "trunc", "max_depth", "min_depth", "weight_threshold"):
            object.__setattr__(self, name, float(getattr(self, name)))  # Open3D rejects ints
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)}")
        low, high = VOXEL_RANGE_M
        if not low <= self.voxel_size <= high:
            raise ValueError(f"voxel_size must be in [{low}, {high}] m, got {self.voxel_size}")
        if not self.voxel_size <= self.trunc <= MAX_TRUNC_VOXELS * self.voxel_size:
            raise ValueError(f"trunc must be 1-{MAX_TRUNC_VOXELS} voxels, got {self.trunc} m "
                             f"with voxel_size {self.voxel_size} m")
        if not (0 <= self.min_depth < self.max_depth <= MAX_DISTANCE_M):
            raise ValueError(f"need 0 <= min_depth < max_depth <= {MAX_DISTANCE_M:g} m, got "
                             f"{self.min_depth}, {self.max_depth}")
        if self.weight_threshold < 0:
            raise ValueError(f"weight_threshold must be >= 0, got {self.weight_threshold}")
        for name in ("block_resolution", "initial_blocks"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")


def check_depth(depth: np.ndarray, name: str = "depth") -> np.ndarray:
    """Validate a depth map: ``(H,W)`` float32 metres, not empty, finite, ≥ 0 (0 = invalid),
    at most :data:`edgegeo.limits.MAX_DISTANCE_M`.

    Returns it as a contiguous float32 array; raises ``ValueError`` naming the problem.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"{name} must be (H,W), got shape {depth.shape}")
    if depth.size == 0:
        raise ValueError(f"{name} is empty: shape {depth.shape}")
    if depth.dtype != np.float32:
        raise ValueError(f"{name} must be float32 metres, got {depth.dtype}")
    bad = ~np.isfinite(depth)
    if bad.any():
        raise ValueError(f"{name} has {int(bad.sum())} NaN/inf pixels: mark invalid depth with 0")
    if (depth < 0).any():
        raise ValueError(f"{name} has negative values (min {depth.min():.3g} m)")
    check_distances(depth, name)
    return np.ascontiguousarray(depth)


class TSDFFusion:
    """Incremental TSDF fusion of posed depth (and colour) frames.

    Example::

        fusion = TSDFFusion(FusionConfig(voxel_size=0.04))
        for f in frames:
            fusion.integrate(f.depth, f.K, f.world_T_cam, f.rgb)
        fusion.save_mesh("mesh.ply")
    """

    def __init__(self, config: FusionConfig = FusionConfig(), device: str = "CPU:0"):
        self.config = config
        self.device = o3c.Device(device)
        names, dtypes, channels = ["tsdf", "weight"], [o3c.float32, o3c.float32], [1, 1]
        if config.color:
            names.append("color"), dtypes.append(o3c.float32), channels.append(3)
        self._grid = o3d.t.geometry.VoxelBlockGrid(
            attr_names=names, attr_dtypes=dtypes, attr_channels=channels,
            voxel_size=config.voxel_size, block_resolution=config.block_resolution,
            block_count=config.initial_blocks, device=self.device)
        self.integrate_seconds: list[float] = []

    @property
    def frames_integrated(self) -> int:
        return len(self.integrate_seconds)

    def integrate(self, depth: np.ndarray, K: np.ndarray, world_T_cam: np.ndarray,
                  rgb: np.ndarray | None = None) -> float:
        """Fuse one frame; returns the seconds it took.

        A frame with no depth inside ``[min_depth, max_depth)`` on Open3D's block-allocation
        grid (every :data:`BLOCK_TOUCH_STRIDE`-th pixel; no voxel block is allocated from the
        others) changes nothing, returns 0 and is not counted in ``frames_integrated``.

        Args:
            depth: ``(H,W) float32`` metres along the optical axis, 0 = invalid.
            K: ``(3,3)`` intrinsics of ``depth``, pixels.
            world_T_cam: ``(4,4)`` camera-to-world pose, metres.
            rgb: ``(H,W,3) uint8`` colour registered to ``depth``; required if the config fuses
                colour.
        """
        cfg = self.config
        depth = check_depth(depth)
        K = check_intrinsics_for_image(K, depth.shape)
        world_T_cam = validate_pose(world_T_cam)
        check_distances(world_T_cam[:3, 3], "world_T_cam translation")
        cam_T_world = invert_pose(world_T_cam)
        if cfg.min_depth > 0:
            depth = np.where(depth < cfg.min_depth, np.float32(0), depth)
        if cfg.color:
            if rgb is None:
                raise ValueError("this fusion fuses colour (FusionConfig.color=True): pass rgb")
            rgb = np.asarray(rgb)
            if rgb.shape != depth.shape + (3,) or rgb.dtype != np.uint8:
                raise ValueError(f"rgb must be (H,W,3) uint8 matching depth {depth.shape}, got "
                                 f"{rgb.shape} {rgb.dtype}")
        rows, cols = (n // BLOCK_TOUCH_STRIDE * BLOCK_TOUCH_STRIDE for n in depth.shape)
        touched = depth[:rows:BLOCK_TOUCH_STRIDE, :cols:BLOCK_TOUCH_STRIDE]
        if not (touched < cfg.max_depth).any(where=touched > 0):
            return 0.0
        start = time.perf_counter()
        depth_img = o3d.t.geometry.Image(o3c.Tensor(depth, device=self.device))
        intrinsic = o3c.Tensor(K)
        extrinsic = o3c.Tensor(cam_T_world)
        trunc_voxels = cfg.trunc / cfg.voxel_size
        blocks = self._grid.compute_unique_block_coordinates(
            depth_img, intrinsic, extrinsic, 1.0, cfg.max_depth, trunc_voxels)
        if cfg.color:
            color_img = o3d.t.geometry.Image(
                o3c.Tensor(rgb.astype(np.float32) / 255.0, device=self.device))
            self._grid.integrate(blocks, depth_img, color_img, intrinsic, intrinsic, extrinsic,
                                 1.0, cfg.max_depth, trunc_voxels)
        else:
            self._grid.integrate(blocks, depth_img, intrinsic, extrinsic, 1.0, cfg.max_depth,
                                 trunc_voxels)
        seconds = time.perf_counter() - start
        self.integrate_seconds.append(seconds)
        return seconds

    def raycast(self, K: np.ndarray, world_T_cam: np.ndarray, hw: tuple[int, int],
                frustum_depth: np.ndarray | None = None, weight_threshold: float = 0.5
                ) -> tuple[np.ndarray, np.ndarray]:
        """Render the fused surface from a camera (Open3D's ``VoxelBlockGrid.ray_cast``).

        Args:
            K: ``(3,3)`` intrinsics of the rendered image, pixels.
            world_T_cam: ``(4,4)`` camera-to-world pose, metres.
            hw: ``(h, w)`` of the rendered image.
            frustum_depth: ``(h,w) float32`` metres seen from about that pose (e.g. the last
                frame's): only the blocks it touches are cast (fast, as Open3D's SLAM
                example does); None casts every block (slow on a large map).
            weight_threshold: voxels seen by fewer frames than this are empty.
        Returns:
            ``depth (h,w) float32`` metres (0 = no surface), ``color (h,w,3) float32`` in
            [0, 1] (zeros when colour is not fused).
        """
        cfg = self.config
        h, w = hw
        if not self.frames_integrated:
            return np.zeros(hw, np.float32), np.zeros(hw + (3,), np.float32)
        attributes = ["depth", "color"] if cfg.color else ["depth"]
        intrinsic = o3c.Tensor(validate_K(K))
        extrinsic = o3c.Tensor(invert_pose(validate_pose(world_T_cam)))
        if frustum_depth is None:
            blocks = self._fused_block_keys()
        else:
            blocks = self._grid.compute_unique_block_coordinates(
                o3d.t.geometry.Image(o3c.Tensor(check_depth(frustum_depth, "frustum_depth"))),
                intrinsic, extrinsic, 1.0, cfg.max_depth, cfg.trunc / cfg.voxel_size)
        # trunc_voxel_multiplier must be the integration's: the ray marcher converts stored
        # (normalised) TSDF values back to metres with it, and a larger one overshoots the
        # surface (Open3D's default of 8 puts it about a voxel in front).
        rendered = self._grid.ray_cast(
            blocks, intrinsic, extrinsic, int(w), int(h), attributes,
            1.0, cfg.min_depth, cfg.max_depth, float(weight_threshold),
            cfg.trunc / cfg.voxel_size, 8)
        depth = rendered["depth"].numpy().reshape(h, w).astype(np.float32)
        color = (np.clip(rendered["color"].numpy().reshape(h, w, 3), 0, 1).astype(np.float32)
                 if cfg.color else np.zeros((h, w, 3), np.float32))
        return depth, color

    def _fused_block_keys(self) -> o3c.Tensor:
        """``(N, 3)`` int32 coordinates of the allocated voxel blocks. (``key_tensor()`` is
        the hash map's whole buffer, its capacity: unused slots hold garbage coordinates,
        and ray casting those stalls Open3D's range estimation or blanks the render.)"""
        hashmap = self._grid.hashmap()
        return hashmap.key_tensor()[hashmap.active_buf_indices().to(o3c.int64)]

    def fused_blocks(self) -> np.ndarray:
        """``(N, 3)`` int32 integer coordinates of the map's voxel blocks (a block spans
        ``block_resolution`` voxels per side: block ``b`` covers ``b · voxel_size ·
        block_resolution`` to the next one, metres, world frame)."""
        return self._fused_block_keys().numpy().astype(np.int32)

    def extract_mesh(self) -> o3d.geometry.TriangleMesh:
        """Marching-cubes mesh of the fused surface (legacy Open3D mesh, metres, world frame;
        vertex colours if colour is fused), in a canonical order (see
        :func:`canonical_order`). Empty if nothing was integrated."""
        if not self.frames_integrated:
            return o3d.geometry.TriangleMesh()
        try:
            raw = self._grid.extract_triangle_mesh(
                weight_threshold=self.config.weight_threshold).to_legacy()
        except RuntimeError as exc:
            # Open3D 0.20 raises instead of returning an empty mesh when no voxel is above
            # the weight threshold (e.g. every voxel seen by one frame only).
            if "has shape {0}" not in str(exc):
                raise
            return o3d.geometry.TriangleMesh()
        vertices, triangles = np.asarray(raw.vertices), np.asarray(raw.triangles)
        order, triangles = canonical_order(vertices, triangles)
        mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(vertices[order]),
                                         o3d.utility.Vector3iVector(triangles))
        if raw.has_vertex_colors():  # weighted averages can overshoot 1 by rounding
            colors = np.clip(np.asarray(raw.vertex_colors)[order], 0, 1)
            mesh.vertex_colors = o3d.utility.Vector3dVector(colors)
        mesh.compute_vertex_normals()
        return mesh

    def extract_point_cloud(self) -> o3d.geometry.PointCloud:
        """The fused surface as points (the mesh's vertices, with colours and normals)."""
        return mesh_vertices_as_cloud(self.extract_mesh())

    def save_mesh(self, path: str | Path,
                  mesh: o3d.geometry.TriangleMesh | None = None) -> o3d.geometry.TriangleMesh:
        """Write ``mesh`` (default: the one extracted now) to ``path`` (PLY) atomically;
        returns it."""
        mesh = self.extract_mesh() if mesh is None else mesh
        _write_atomically(path, lambda tmp: o3d.io.write_triangle_mesh(tmp, mesh)
                          if len(mesh.triangles) else _write_empty_ply(tmp, faces=True))
        return mesh

    def save_point_cloud(self, path: str | Path,
                         mesh: o3d.geometry.TriangleMesh | None = None) -> o3d.geometry.PointCloud:
        """Write the point cloud (the vertices of ``mesh``, default: of the mesh extracted
        now) to ``path`` (PLY) atomically; returns it."""
        cloud = mesh_vertices_as_cloud(self.extract_mesh() if mesh is None else mesh)
        _write_atomically(path, lambda tmp: o3d.io.write_point_cloud(tmp, cloud)
                          if len(cloud.points) else _write_empty_ply(tmp, faces=False))
        return cloud


def mesh_vertices_as_cloud(mesh: o3d.geometry.TriangleMesh) -> o3d.geometry.PointCloud:
    """The vertices of ``mesh`` as a point cloud, with their colours and normals."""
    cloud = o3d.geometry.PointCloud(mesh.vertices)
    if mesh.has_vertex_colors():
        cloud.colors = mesh.vertex_colors
    if mesh.has_vertex_normals():
        cloud.normals = mesh.vertex_normals
    return cloud


def _write_empty_ply(path: str, faces: bool) -> bool:
    """A valid PLY with no vertices (Open3D refuses to write empty geometry): nothing fused
    yet still leaves a file that viewers open."""
    header = ["ply", "format ascii 1.0", "element vertex 0", "property float x",
              "property float y", "property float z"]
    if faces:
        header += ["element face 0", "property list uchar int vertex_indices"]
    Path(path).write_text("\n".join(header + ["end_header"]) + "\n")
    return True


def _write_atomically(path: str | Path, write) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``, so no partial file is ever left."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: give a .ply file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        if not write(str(tmp)):
            raise OSError(f"could not write {path}")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def canonical_order(vertices: np.ndarray, triangles: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A fixed order for a mesh's vertices and triangles.

    Open3D's ``VoxelBlockGrid.extract_triangle_mesh`` returns the same surface with its vertices
    and triangles in a different order from one call to the next; seeded surface sampling
    (``edgegeo.metrics.mesh``) draws triangle by triangle, so the same surface would score
    differently each time. Vertices are sorted by ``(x, y, z)``, each triangle starts at its
    lowest vertex (winding kept), triangles are sorted.

    Args:
        vertices: ``(V, 3)`` float positions; triangles: ``(T, 3)`` int vertex indices.
    Returns:
        ``(order (V,) int`` — new vertex ``i`` is old vertex ``order[i]``, ``triangles (T, 3)``
        re-indexed to the new vertices``)``.
    """
    order = np.lexsort(vertices.T[::-1])
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    triangles = rank[triangles]
    first = triangles.argmin(axis=1)[:, None] if len(triangles) else np.zeros((0, 1), int)
    triangles = np.take_along_axis(triangles, (first + np.arange(3)) % 3, axis=1)
    return order, triangles[np.lexsort(triangles.T[::-1])]
