"""RGB-D camera tracking for live fusion: each depth frame registered to a reference view by
Open3D's multi-scale RGB-D odometry, so that sources without poses can be fused.

Registration is point-to-plane ICP with projective data association over an image pyramid
(KinectFusion: Newcombe et al., ISMAR 2011), or the hybrid geometric + photometric objective
(Park, Zhou and Koltun, "Colored Point Cloud Registration Revisited", ICCV 2017; Steinbrücker
et al. 2011), both as implemented in ``open3d.t.pipelines.odometry`` — we use it, we do not
write ICP. The frame-to-model loop follows Open3D's ``t.pipelines.slam.Model``.

What the new frame is registered to (``TrackingConfig.reference``; measured against each other
in ``docs/benchmarks.md``, ``edgegeo bench tracking``):

* ``keyframe`` (default): the last keyframe's depth. A frame becomes a keyframe when it has
  moved ``keyframe_translation_m`` / ``keyframe_rotation_deg`` from the current one; frames in
  between are registered to the same keyframe, so error does not accumulate frame by frame.
* ``frame``: the previous frame (classic frame-to-frame odometry; drifts fastest).
* ``model``: the TSDF map ray-cast at the last pose (KinectFusion's frame-to-model). On
  Open3D 0.20 the ``VoxelBlockGrid`` ray cast does not reproduce the depth it integrated
  (1–2 cm off on slanted surfaces, even for a single frame at its own pose, partly a
  half-pixel shift); registering to it biases every frame the same way and the trajectory
  drifts. Kept selectable so that it can be measured as Open3D improves.

Tracking loss — the pose is refused, the frame is not fused, the tracker stays at the last good
pose and tries the next frames against the current keyframe, then the previous ones — when:

* too few pixels have depth in range (``min_valid_fraction``): nothing to register;
* the registration failed (Open3D's singular system: degenerate geometry such as one plane);
* ``fitness`` (fraction of the frame's pixels with an inlier correspondence) is below
  ``min_fitness``: the frame does not overlap what it was registered to;
* ``inlier_rmse`` is above ``max_inlier_rmse_m``: the alignment is poor even on inliers;
* the motion since the last good pose is faster than ``max_speed_mps`` / ``max_turn_dps``
  (a hand-held or robot camera does not jump; ICP that converged to a wrong minimum does).
"""
from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgegeo.geometry import invert_pose, rotation_angle_deg
from edgegeo.limits import check_intrinsics_for_image

from .tsdf import check_depth

REFERENCES = ("keyframe", "frame", "model")
METHODS = ("point_to_plane", "hybrid")


@dataclass(frozen=True)
class TrackingConfig:
    """How frames are registered and when the track counts as lost.

    Attributes:
        reference: ``keyframe``, ``frame`` or ``model`` (see the module docstring).
        method: ``point_to_plane`` (geometry only) or ``hybrid`` (geometry + intensity).
        max_width: frames are subsampled by the smallest integer factor that brings their
            width to at most this many pixels before registration (speed; the pyramid's
            coarser levels come on top).
        min_depth, max_depth: depth outside this range (metres) is not used.
        iterations: Gauss-Newton iterations per pyramid level, finest level first.
        outlier_m: a correspondence whose depth differs by more than this (metres) is an
            outlier; ``huber_m``: the Huber loss's threshold for depth residuals (metres).
        keyframe_translation_m, keyframe_rotation_deg: a frame this far from the keyframe
            becomes the next keyframe.
        keyframes_kept: keyframes remembered for recovery after a loss.
        min_valid_fraction: fewer pixels with depth in range than this fraction → lost.
        min_fitness: fewer inlier correspondences than this fraction of pixels → lost.
        max_inlier_rmse_m: inlier RMSE above this (metres) → lost.
        max_speed_mps, max_turn_dps: motion faster than this since the last good pose (metres
            / degrees per second, from the frames' timestamps) → lost.
        default_fps: the frame interval assumed when frames carry no timestamps.
    """

    reference: str = "keyframe"
    method: str = "point_to_plane"
    max_width: int = 320
    min_depth: float = 0.1
    max_depth: float = 8.0
    iterations: tuple[int, ...] = (10, 5, 3)
    outlier_m: float = 0.07
    huber_m: float = 0.05
    keyframe_translation_m: float = 0.2
    keyframe_rotation_deg: float = 15.0
    keyframes_kept: int = 5
    min_valid_fraction: float = 0.05
    min_fitness: float = 0.3
    max_inlier_rmse_m: float = 0.03
    max_speed_mps: float = 2.0
    max_turn_dps: float = 180.0
    default_fps: float = 30.0

    def __post_init__(self):
        if self.reference not in REFERENCES:
            raise ValueError(f"unknown tracking reference {self.reference!r}; use "
                             f"{', '.join(REFERENCES)}")
        if self.method not in METHODS:
            raise ValueError(f"unknown tracking method {self.method!r}; use {', '.join(METHODS)}")
        if not (0 <= self.min_depth < self.max_depth):
            raise ValueError(f"need 0 <= min_depth < max_depth, got {self.min_depth}, "
                             f"{self.max_depth}")
        if not self.iterations or min(self.iterations) < 1:
            raise ValueError(f"iterations must be positive per level, got {self.iterations}")
        for name in ("max_width", "keyframes_kept"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("outlier_m", "huber_m", "max_inlier_rmse_m", "max_speed_mps",
                     "max_turn_dps", "default_fps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


@dataclass
class TrackResult:
    """The outcome of :meth:`RGBDTracker.track` for one frame.

    Attributes:
        world_T_cam: ``(4,4) float64`` camera-to-world pose (metres; the first frame is the
            world), or None when the frame was refused (``ok`` False).
        ok: the pose is trusted: fuse the frame.
        state: ``initialised`` (first frame), ``tracking``, ``recovered`` (first good frame
            after a loss) or ``lost``.
        reason: why the frame was refused (None when ``ok``).
        fitness: inlier fraction of the registration (1.0 for the first frame).
        inlier_rmse: RMSE of the inlier residuals, metres.
        keyframe: the frame became a keyframe.
        seconds: time spent.
    """

    world_T_cam: np.ndarray | None
    ok: bool
    state: str
    reason: str | None = None
    fitness: float = 0.0
    inlier_rmse: float = 0.0
    keyframe: bool = False
    seconds: float = 0.0


@dataclass
class _View:
    """A registration target: a subsampled RGB-D image and its pose."""

    rgbd: object  # open3d.t.geometry.RGBDImage
    world_T_cam: np.ndarray


Raycast = Callable[[np.ndarray, np.ndarray, tuple[int, int], np.ndarray],
                   "tuple[np.ndarray, np.ndarray]"]


class RGBDTracker:
    """Estimate ``world_T_cam`` of each RGB-D frame of a stream (see the module docstring).

    Example::

        tracker = RGBDTracker(TrackingConfig())
        for frame in frames:
            result = tracker.track(frame.depth, frame.K, frame.rgb, frame.timestamp)
            if result.ok:
                fusion.integrate(frame.depth, frame.K, result.world_T_cam, frame.rgb)

    Args:
        config: the :class:`TrackingConfig`.
        raycast: for ``reference="model"``: ``(K, world_T_cam, (h, w), frustum_depth) →
            (depth (h,w) float32 metres, colour (h,w,3) float32 in [0,1])``, the map seen from
            that pose (``frustum_depth``: the last frame's depth there, to limit the cast),
            e.g. :meth:`edgegeo.fusion.TSDFFusion.raycast`.

    Attributes:
        frames, lost_frames, recoveries, keyframes: counters.
        state: the last frame's state (``idle`` before the first).
    """

    def __init__(self, config: TrackingConfig = TrackingConfig(), raycast: Raycast | None = None):
        import open3d.t.pipelines.odometry as odometry

        if config.reference == "model" and raycast is None:
            raise ValueError("reference='model' needs the map's raycast function")
        self.config = config
        self._raycast = raycast
        self._odometry = odometry
        self._method = (odometry.Method.PointToPlane if config.method == "point_to_plane"
                        else odometry.Method.Hybrid)
        self._criteria = [odometry.OdometryConvergenceCriteria(n) for n in config.iterations]
        self._params = odometry.OdometryLossParams(config.outlier_m, config.huber_m)
        self._keyframes: deque[_View] = deque(maxlen=config.keyframes_kept)
        self._previous: _View | None = None
        self._pose: np.ndarray | None = None
        self._velocity = np.eye(4)   # motion over one frame interval, for the initial guess
        self._last_time: float | None = None
        self._interval: float | None = None
        self._hw: tuple[int, int] | None = None
        self.frames = self.lost_frames = self.recoveries = self.keyframes = 0
        self.state = "idle"

    @property
    def world_T_cam(self) -> np.ndarray | None:
        """The last good pose (None before the first frame)."""
        return None if self._pose is None else self._pose.copy()

    def status(self) -> dict:
        """Counters and state, JSON-able (for ``stats.json``)."""
        return dict(state=self.state, frames=self.frames, lost_frames=self.lost_frames,
                    recoveries=self.recoveries, keyframes=self.keyframes,
                    reference=self.config.reference, method=self.config.method)

    # ------------------------------------------------------------------------- tracking
    def track(self, depth: np.ndarray, K: np.ndarray, rgb: np.ndarray | None = None,
              timestamp: float | None = None) -> TrackResult:
        """Register one frame.

        Args:
            depth: ``(H,W) float32`` metres along the optical axis, 0 = invalid.
            K: ``(3,3)`` intrinsics of ``depth``, pixels.
            rgb: ``(H,W,3) uint8`` registered to ``depth``; needed for ``method="hybrid"``.
            timestamp: seconds (any origin, increasing); None: frames are taken as
                ``1 / default_fps`` apart.
        Returns:
            A :class:`TrackResult`; a refused frame leaves the tracker's state unchanged
            except the loss counters.
        Raises:
            ValueError: malformed depth / K / rgb, or a frame size that differs from the
                stream's.
        """
        start = time.perf_counter()
        view, K_view, valid_fraction = self._prepare(depth, K, rgb)
        dt = self._elapsed(timestamp)
        self.frames += 1
        if valid_fraction < self.config.min_valid_fraction:
            return self._lost(f"too little depth in range ({100 * valid_fraction:.1f} % of "
                              "pixels)", start)
        if self._pose is None:
            self._pose = np.eye(4)
            self._start_keyframe(view, self._pose)
            self._previous = _View(view, self._pose)
            self.state = "initialised"
            return TrackResult(self._pose.copy(), True, self.state, fitness=1.0,
                               keyframe=True, seconds=time.perf_counter() - start)
        guess = self._pose @ _power(self._velocity, dt / self._interval)
        attempts = self._targets(K_view, view)
        result, reason = None, None
        for target in attempts:
            result, reason = self._register(view, target, K_view, guess)
            if reason is None:
                break
        if reason is not None:
            return self._lost(reason, start, result)
        pose = _orthonormalised(target.world_T_cam @ result[0])
        reason = self._implausible_motion(pose, dt)
        if reason is not None:
            return self._lost(reason, start, result)
        step = invert_pose(self._pose) @ pose
        self._velocity = _power(step, self._interval / dt) if dt > 0 else np.eye(4)
        self._pose = pose
        self._last_time = self._time_of(timestamp)
        self._previous = _View(view, pose)
        keyframe = self._maybe_keyframe(view, pose)
        state = "recovered" if self.state == "lost" else "tracking"
        if state == "recovered":
            self.recoveries += 1
        self.state = state
        return TrackResult(pose.copy(), True, state, fitness=result[1], inlier_rmse=result[2],
                           keyframe=keyframe, seconds=time.perf_counter() - start)

    def _prepare(self, depth, K, rgb):
        """The frame subsampled for registration, its intrinsics and valid-depth fraction."""
        import open3d as o3d
        import open3d.core as o3c

        cfg = self.config
        depth = check_depth(depth)
        K = check_intrinsics_for_image(K, depth.shape)
        if self._hw is None:
            self._hw = depth.shape
        elif depth.shape != self._hw:
            raise ValueError(f"depth is {depth.shape[1]}x{depth.shape[0]}, the tracked stream "
                             f"is {self._hw[1]}x{self._hw[0]}")
        step = max(1, math.ceil(depth.shape[1] / cfg.max_width))
        small = depth[::step, ::step]
        small = np.where((small >= cfg.min_depth) & (small <= cfg.max_depth), small,
                         np.float32(0)).astype(np.float32)
        K_view = K.copy()
        K_view[:2] /= step   # pixel u' of the subsampled image is pixel step * u'
        if rgb is None:
            if cfg.method == "hybrid":
                raise ValueError("the hybrid tracking method needs rgb")
            color = np.zeros(small.shape + (3,), np.float32)
        else:
            rgb = np.asarray(rgb)
            if rgb.shape != depth.shape + (3,) or rgb.dtype != np.uint8:
                raise ValueError(f"rgb must be (H,W,3) uint8 matching depth {depth.shape}, got "
                                 f"{rgb.shape} {rgb.dtype}")
            color = rgb[::step, ::step].astype(np.float32) / 255.0
        view = o3d.t.geometry.RGBDImage(
            o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(color))),
            o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(small))))
        return view, K_view, float(np.count_nonzero(small)) / small.size

    def _targets(self, K_view, view) -> list[_View]:
        """What to register to, in order of preference."""
        reference = self.config.reference
        if self.state == "lost":   # recover: the current keyframe, then the earlier ones
            return list(reversed(self._keyframes))
        if reference == "frame":
            return [self._previous]
        if reference == "model":
            model = self._model_view(K_view, view)
            empty = not np.count_nonzero(model.rgbd.depth.as_tensor().numpy())
            return [self._previous if empty else model]   # empty: nothing fused there yet
        return [self._keyframes[-1]]

    def _model_view(self, K_view, view) -> _View:
        import open3d as o3d
        import open3d.core as o3c

        hw = tuple(view.depth.as_tensor().shape[:2])
        depth, color = self._raycast(K_view, self._pose, hw,
                                     self._previous.rgbd.depth.as_tensor().numpy().reshape(hw))
        rgbd = o3d.t.geometry.RGBDImage(
            o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(color, np.float32))),
            o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(depth, np.float32))))
        return _View(rgbd, self._pose)

    def _register(self, view, target: _View, K_view, guess):
        """``((target_T_frame, fitness, inlier_rmse), None)`` or ``(partial, reason)``."""
        import open3d.core as o3c

        cfg = self.config
        init = invert_pose(target.world_T_cam) @ guess
        try:
            result = self._odometry.rgbd_odometry_multi_scale(
                view, target.rgbd, o3c.Tensor(K_view), o3c.Tensor(init), 1.0, cfg.max_depth,
                self._criteria, self._method, self._params)
        except RuntimeError as exc:
            if "Singular" not in str(exc):
                raise
            return None, "registration failed (degenerate geometry)"
        outcome = (result.transformation.numpy().astype(np.float64), float(result.fitness),
                   float(result.inlier_rmse))
        if outcome[1] < cfg.min_fitness:
            return outcome, f"fitness {outcome[1]:.2f} < {cfg.min_fitness}"
        if outcome[2] > cfg.max_inlier_rmse_m:
            return outcome, f"inlier RMSE {outcome[2] * 100:.1f} cm > " \
                            f"{cfg.max_inlier_rmse_m * 100:.1f} cm"
        return outcome, None

    def _implausible_motion(self, pose, dt) -> str | None:
        cfg = self.config
        step = invert_pose(self._pose) @ pose
        distance, angle = float(np.linalg.norm(step[:3, 3])), rotation_angle_deg(step[:3, :3])
        dt = max(dt, self._interval)   # at least one frame interval
        if distance > cfg.max_speed_mps * dt:
            return f"jump of {distance * 100:.0f} cm in {dt * 1000:.0f} ms"
        if angle > cfg.max_turn_dps * dt:
            return f"turn of {angle:.0f}° in {dt * 1000:.0f} ms"
        return None

    def _lost(self, reason: str, start: float, result=None) -> TrackResult:
        self.lost_frames += 1
        self.state = "lost"
        fitness, rmse = (result[1], result[2]) if result else (0.0, 0.0)
        return TrackResult(None, False, "lost", reason, fitness, rmse,
                           seconds=time.perf_counter() - start)

    # ------------------------------------------------------------------------ keyframes
    def _start_keyframe(self, view, pose) -> None:
        self._keyframes.append(_View(view, pose))
        self.keyframes += 1

    def _maybe_keyframe(self, view, pose) -> bool:
        cfg = self.config
        from_key = invert_pose(self._keyframes[-1].world_T_cam) @ pose
        if (np.linalg.norm(from_key[:3, 3]) > cfg.keyframe_translation_m
                or rotation_angle_deg(from_key[:3, :3]) > cfg.keyframe_rotation_deg):
            self._start_keyframe(view, pose)
            return True
        return False

    # ----------------------------------------------------------------------------- time
    def _time_of(self, timestamp: float | None) -> float:
        if timestamp is None:
            return self.frames / self.config.default_fps
        return float(timestamp)

    def _elapsed(self, timestamp: float | None) -> float:
        """Seconds since the last good frame (and the stream's frame interval, learnt from
        the first two frames)."""
        now = self._time_of(timestamp)
        if self._last_time is None:
            self._last_time = now
            self._interval = 1.0 / self.config.default_fps
            return 0.0
        dt = now - self._last_time
        if self.frames == 1 and dt > 0:
            self._interval = dt
        return dt if dt > 0 else self._interval


def _orthonormalised(T: np.ndarray) -> np.ndarray:
    """``T`` with its rotation block projected back onto SO(3) (Open3D works in float32, and
    composing thousands of poses lets the error grow)."""
    U, _, Vt = np.linalg.svd(T[:3, :3])
    R = U @ Vt
    if np.linalg.det(R) < 0:
        U[:, -1] *= -1
        R = U @ Vt
    out = np.array(T, dtype=np.float64)
    out[:3, :3] = R
    out[3] = (0, 0, 0, 1)
    return out


def _power(T: np.ndarray, exponent: float) -> np.ndarray:
    """The rigid motion ``T`` scaled to ``exponent`` times its size (rotation vector and
    translation scaled; the constant-velocity guess over a different time interval)."""
    from scipy.spatial.transform import Rotation

    if exponent == 1.0:
        return T.copy()
    out = np.eye(4)
    out[:3, :3] = Rotation.from_rotvec(Rotation.from_matrix(T[:3, :3]).as_rotvec()
                                       * exponent).as_matrix()
    out[:3, 3] = T[:3, 3] * exponent
    return out


__all__ = ["METHODS", "REFERENCES", "RGBDTracker", "TrackResult", "TrackingConfig"]
