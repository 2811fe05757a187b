"""The map sink: the fused mesh and point cloud as PLY files, saved while streaming and at the
end."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from ..map import LiveMap
from .base import Sink

log = logging.getLogger("edgegeo.runtime.sinks")


class MapSink(Sink):
    """Save the run's fused map (a :class:`~edgegeo.runtime.map.LiveMap`) as PLY.

    Args:
        live_map: the map the fuse stage writes.
        out_dir: folder for ``mesh.ply`` and ``cloud.ply``.
        every_s: save this often while streaming (only if new frames were fused); 0 = only at
            the end.
        mesh, cloud: which files to write.
    """

    name = "map"

    def __init__(self, live_map: LiveMap, out_dir: str | Path, every_s: float = 30.0,
                 mesh: bool = True, cloud: bool = True):
        self.live_map = live_map
        self.out_dir = Path(out_dir)
        self.mesh_path = self.out_dir / "mesh.ply" if mesh else None
        self.cloud_path = self.out_dir / "cloud.ply" if cloud else None
        self.every_s = float(every_s)
        self._last_save = time.monotonic()
        self._saved_frames = 0
        self.saves = 0
        self.last_mesh = None

    def write(self, packet) -> None:
        pass

    def tick(self) -> None:
        if self.every_s > 0 and time.monotonic() - self._last_save >= self.every_s:
            self.save()

    def save(self) -> bool:
        """Save now if anything new was fused and the volume has a surface (a voxel observed
        by a single frame is not meshed yet); True if files were written."""
        self._last_save = time.monotonic()
        fused = self.live_map.frames_integrated
        if fused == 0 or fused == self._saved_frames:
            return False
        mesh = self.live_map.save(self.mesh_path, self.cloud_path, require_surface=True)
        if mesh is None:
            log.warning("%d frame(s) fused but no surface extracted yet: no map saved", fused)
            return False
        self.last_mesh = mesh
        self._saved_frames = fused
        self.saves += 1
        return True

    def close(self) -> None:
        if self.live_map.frames_integrated == 0:
            log.warning("no frame was fused: no map to save")
            return
        self.save()
        log.info("map saved: %s", ", ".join(str(p) for p in (self.mesh_path, self.cloud_path)
                                            if p))
