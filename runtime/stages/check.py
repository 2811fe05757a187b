"""The first stage of every pipeline: validate each frame before anything uses it."""
from __future__ import annotations

import numpy as np

from edgegeo.geometry import validate_K, validate_pose   # not lazily: the first frame must not
                                                         # pay for imports
from ..packet import BadFrame, Packet


class CheckFrame:
    """First stage of every pipeline: reject frames the rest cannot use.

    Checks ``rgb`` is ``(H,W,3) uint8`` at the stream's size (the size of the first good
    frame), ``K`` is valid, depth (if any) is ``(H,W)``, finite and ≥ 0, the pose (if any) is
    rigid. Raises :class:`BadFrame` naming the problem.

    Args:
        require_depth / require_pose: reject frames without depth / pose.
        use_source_depth: set ``packet.depth`` to the frame's own depth (the ``gt`` pipeline).
    """

    name = "check"

    def __init__(self, require_depth: bool = False, require_pose: bool = False,
                 use_source_depth: bool = False):
        self.require_depth = require_depth or use_source_depth
        self.require_pose = require_pose
        self.use_source_depth = use_source_depth
        self.size: tuple[int, int] | None = None

    def __call__(self, packet: Packet) -> Packet:
        frame = packet.frame
        rgb = frame.rgb
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 \
                or rgb.dtype != np.uint8:
            raise BadFrame(f"rgb must be (H,W,3) uint8, got {getattr(rgb, 'shape', None)} "
                           f"{getattr(rgb, 'dtype', type(rgb).__name__)}")
        hw = rgb.shape[:2]
        if self.size is not None and hw != self.size:
            raise BadFrame(f"wrong size {hw[1]}x{hw[0]}: the stream is "
                           f"{self.size[1]}x{self.size[0]}")
        try:
            validate_K(frame.K)
        except ValueError as exc:
            raise BadFrame(f"bad intrinsics: {exc}") from None
        depth = frame.depth
        if depth is not None:
            depth = np.asarray(depth)
            if depth.shape != hw:
                raise BadFrame(f"depth {depth.shape} does not match rgb {hw}")
            if not np.issubdtype(depth.dtype, np.floating):
                raise BadFrame(f"depth must be float metres, got {depth.dtype}")
            finite = np.isfinite(depth)
            if not finite.all():
                raise BadFrame(f"depth has {int((~finite).sum())} NaN/inf pixels")
            if (depth < 0).any():
                raise BadFrame(f"depth has negative values (min {float(depth.min()):.3g} m)")
            depth = depth.astype(np.float32, copy=False)
        elif self.require_depth:
            raise BadFrame("frame has no depth (this pipeline uses the source's depth)")
        if frame.world_T_cam is not None:
            try:
                validate_pose(frame.world_T_cam)
            except ValueError as exc:
                raise BadFrame(f"bad pose: {exc}") from None
        elif self.require_pose:
            raise BadFrame("frame has no pose")
        if self.size is None:
            self.size = hw
        if self.use_source_depth:
            packet.depth = depth
            packet.info["depth_from"] = "source"
        return packet
