"""The trajectory sink: the camera poses of the run as a TUM trajectory file."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .base import Sink


class TrajectorySink(Sink):
    """Write each frame's camera pose (:attr:`Packet.pose`: the tracked one when tracking
    runs, else the source's) to a TUM trajectory file — ``timestamp tx ty tz qx qy qz qw``
    per line, ``world_T_cam``, the source's frame timestamps in seconds (the frame's index /
    10 when the source gives none). Frames without a pose (tracking lost) are left out.

    The file is rewritten (atomically) every ``every_s`` seconds while streaming and at the
    end, SIGINT / SIGTERM included.

    Args:
        path: the ``.txt`` file to write.
        every_s: rewrite period in seconds; 0 = only at the end.
    """

    name = "trajectory"

    def __init__(self, path: str | Path, every_s: float = 5.0):
        self.path = Path(path)
        self.every_s = float(every_s)
        self.timestamps: list[float] = []
        self.poses: list[np.ndarray] = []
        self._written = 0
        self._last_save = time.monotonic()

    def write(self, packet) -> None:
        pose = packet.pose
        if pose is None:
            return
        stamp = packet.frame.timestamp
        self.timestamps.append(float(stamp) if stamp is not None else packet.index / 10.0)
        self.poses.append(np.asarray(pose, dtype=np.float64))

    def tick(self) -> None:
        if self.every_s > 0 and time.monotonic() - self._last_save >= self.every_s:
            self.save()

    def save(self) -> bool:
        """Rewrite the file if poses came since the last save; True if written."""
        from edgegeo.data.tum import write_tum_trajectory

        self._last_save = time.monotonic()
        if len(self.poses) == self._written:
            return False
        write_tum_trajectory(self.path, self.timestamps, self.poses)
        self._written = len(self.poses)
        return True

    def close(self) -> None:
        self.save()
