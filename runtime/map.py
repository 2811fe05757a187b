"""The run's map: the TSDF volume the fuse stage writes and the sinks read, behind one lock."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np


class LiveMap:
    """A :class:`~edgegeo.fusion.TSDFFusion` shared between threads while streaming.

    The fuse stage (:class:`~edgegeo.runtime.stages.fuse.FuseStage`) integrates frames into it;
    sinks (:class:`~edgegeo.runtime.sinks.MapSink`, :class:`~edgegeo.runtime.sinks.RosBagSink`)
    read meshes of it and save it. Every access goes through the map's lock, so a mesh is never
    extracted from a half-integrated frame.

    Args:
        fusion: the ``TSDFFusion`` (its ``config``: voxel size, truncation, depth range in
            metres; ``color``: fuse colour too).
    """

    def __init__(self, fusion):
        self.fusion = fusion
        self._lock = threading.Lock()

    @property
    def config(self):
        """The volume's :class:`~edgegeo.fusion.FusionConfig`."""
        return self.fusion.config

    @property
    def frames_integrated(self) -> int:
        """Frames integrated so far (those ``integrate`` accepted)."""
        with self._lock:
            return self.fusion.frames_integrated

    def integrate(self, depth: np.ndarray, K: np.ndarray, world_T_cam: np.ndarray,
                  rgb: np.ndarray | None = None) -> float:
        """Integrate one frame: ``depth`` ``(h,w) float32`` metres, ``K`` ``(3,3)`` its
        intrinsics (pixels), ``world_T_cam`` ``(4,4)`` camera-to-world, ``rgb`` ``(h,w,3)
        uint8`` (used when the config fuses colour). Returns the seconds it took; 0 when the
        frame was refused (it changes nothing then)."""
        with self._lock:
            return self.fusion.integrate(depth, K, world_T_cam,
                                         rgb if self.fusion.config.color else None)

    def raycast(self, K: np.ndarray, world_T_cam: np.ndarray, hw: tuple[int, int],
                frustum_depth: np.ndarray | None = None):
        """The map rendered from a camera (see :meth:`~edgegeo.fusion.TSDFFusion.raycast`):
        ``depth (h,w) float32`` metres, ``color (h,w,3) float32`` in [0, 1]."""
        with self._lock:
            return self.fusion.raycast(K, world_T_cam, hw, frustum_depth)

    def reset(self) -> None:
        """Empty the map: a new volume with the same configuration and device."""
        with self._lock:
            self.fusion = type(self.fusion)(self.fusion.config, device=str(self.fusion.device))

    def mesh(self):
        """The fused mesh so far (legacy Open3D ``TriangleMesh``, metres, world frame)."""
        with self._lock:
            return self.fusion.extract_mesh()

    def save(self, mesh_path: str | Path | None, cloud_path: str | Path | None = None,
             require_surface: bool = False):
        """Save the mesh and/or point cloud (PLY, atomically, both from one extraction);
        returns the mesh. With ``require_surface``, nothing is written while the mesh has no
        triangles and None is returned."""
        with self._lock:
            mesh = self.fusion.extract_mesh()
            if require_surface and not len(mesh.triangles):
                return None
            if mesh_path:
                self.fusion.save_mesh(mesh_path, mesh)
            if cloud_path:
                self.fusion.save_point_cloud(cloud_path, mesh)
        return mesh
