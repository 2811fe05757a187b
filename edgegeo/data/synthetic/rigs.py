"""Camera rigs that turn a scene into training and evaluation data:

* :func:`walkthrough` — a smooth hand-held video through free space (for multi-view depth,
  fusion, mono depth);
* :func:`stereo_pair` — a rectified stereo pair with GT disparity and occlusion mask;
* :func:`view_pair` / :func:`mine_view_pairs` — two views of one region with their overlap IoU,
  viewpoint angle and CroCo v2 score (for cross-view completion pre-training).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegeo.checks import positive_int, positive_scalar
from edgegeo.data.frame import Frame
from edgegeo.geometry import K_from_fov, scale_K
from edgegeo.geometry.projection import depth_to_disparity

from .camera_model import CameraModel
from .camera_placement import clearance, is_free, pose_from_angles, sample_free_position, sample_view
from .overlap import croco_score, overlap_iou, overlap_iou_from_depth, viewpoint_angle_deg, visible_in
from .primitives import translation
from .renderer import depth_and_instance, depth_only


def _check_range(name: str, value, low_limit: float = 0.0, high_limit: float = np.inf) -> tuple[float, float]:
    if len(value) != 2 or not (low_limit <= value[0] <= value[1] <= high_limit):
        raise ValueError(f"{name} must be (low, high) with {low_limit} <= low <= high <= {high_limit}, got {value}")
    return float(value[0]), float(value[1])


def _intrinsics(rng, width, height, hfov_deg, hfov_range_deg=(60.0, 80.0)) -> np.ndarray:
    """K of a ``width × height`` camera with the given (or a random) horizontal field of view."""
    hfov = rng.uniform(*hfov_range_deg) if hfov_deg is None else hfov_deg
    return K_from_fov(positive_int(width, "width"), positive_int(height, "height"), hfov)


# ----------------------------------------------------------------------------- walkthrough


def _smooth_signal(rng, times: np.ndarray, amplitude: float, frequency_range_hz) -> np.ndarray:
    """A smooth random signal: three sinusoids with random frequencies and phases, peak
    amplitude at most ``amplitude``."""
    weights = rng.dirichlet(np.ones(3)) * amplitude
    frequencies = rng.uniform(*frequency_range_hz, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)
    return (weights[:, None] * np.sin(2 * np.pi * frequencies[:, None] * times + phases[:, None])).sum(axis=0)


def _segment_is_clear(scene, start, end, clearance_m: float) -> bool:
    """Every point on the segment (every 5 cm) is free."""
    steps = max(2, int(np.linalg.norm(end - start) / 0.05) + 1)
    points = start + (end - start) * np.linspace(0, 1, steps)[:, None]
    return bool(clearance(scene, points).min() >= clearance_m)


def _waypoints(scene, rng, path_length: float, clearance_m: float, height_range_m) -> np.ndarray | None:
    """A random walk of waypoints 0.8–2 m apart whose straight connections stay free, long
    enough for ``path_length`` metres, turning by at most ~100° at each; None if stuck."""
    margin = 1.5 * clearance_m
    points = [sample_free_position(scene, rng, margin, height_range_m)]
    heading = rng.uniform(0, 2 * np.pi)
    length = 0.0
    while length < path_length + 1.0:
        for _ in range(40):
            turn = rng.normal(0, np.deg2rad(50))
            step = rng.uniform(0.8, 2.0)
            candidate = points[-1] + step * np.array([np.cos(heading + turn), np.sin(heading + turn), 0.0])
            candidate[2] = np.clip(points[-1][2] + rng.normal(0, 0.1), *height_range_m)
            if is_free(scene, candidate[None], margin)[0] and _segment_is_clear(scene, points[-1], candidate, margin):
                heading += turn
                length += np.linalg.norm(candidate - points[-1])
                points.append(candidate)
                break
        else:
            return None
    return np.array(points)


def _resample_path(waypoints: np.ndarray, step_lengths: np.ndarray) -> np.ndarray:
    """Points along a cubic spline through ``waypoints`` separated by ``step_lengths`` metres
    of arc length (first point = first waypoint; the spline is at least as long as the
    polyline, which the caller makes long enough). Returns ``(len(step_lengths)+1, 3)``."""
    from scipy.interpolate import CubicSpline

    chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(waypoints, axis=0), axis=1))])
    spline = CubicSpline(chord, waypoints, bc_type="natural")
    dense_t = np.linspace(0, chord[-1], max(200, int(chord[-1] / 0.005)))
    dense = spline(dense_t)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    targets = np.concatenate([[0.0], np.cumsum(step_lengths)])
    return spline(np.interp(targets, arc, dense_t))


def _look_angles(scene, rng, positions, times, fps) -> tuple[np.ndarray, np.ndarray]:
    """Yaw and pitch (radians) of a camera that looks at a point wandering slowly through the
    room's middle (as someone scanning a room looks into it, not at the wall beside them),
    low-pass filtered so it turns at most a few tens of degrees per second."""
    from scipy.ndimage import gaussian_filter1d

    low, high = scene.bounds
    centre, size = (low + high) / 2, high - low
    target = np.empty_like(positions)
    for axis, spread in ((0, 0.3), (1, 0.3)):
        target[:, axis] = centre[axis] + size[axis] * _smooth_signal(rng, times, spread, (0.02, 0.08))
    target[:, 2] = rng.uniform(0.4, 1.0) + _smooth_signal(rng, times, 0.3, (0.03, 0.1))
    view = target - positions
    horizontal = np.hypot(view[:, 0], view[:, 1])
    # Nearly above the attention point: also pull the view towards the room centre.
    close = horizontal < 1.0
    view[close, :2] += (centre[:2] - positions[close, :2]) + 1e-3
    yaw = gaussian_filter1d(np.unwrap(np.arctan2(view[:, 1], view[:, 0])), 0.5 * fps, mode="nearest")
    pitch = np.clip(np.arctan2(view[:, 2], np.hypot(view[:, 0], view[:, 1])), np.deg2rad(-40), np.deg2rad(5))
    return yaw, gaussian_filter1d(pitch, 0.5 * fps, mode="nearest")


def walkthrough(scene, n_frames: int, width: int, height: int, seed: int = 0, hfov_deg: float | None = None,
                fps: float = 10.0, speed_mps: float = 0.35, clearance_m: float = 0.3,
                height_range_m: tuple[float, float] = (1.1, 1.7), camera: CameraModel | None = None,
                max_attempts: int = 30, progress: bool = True) -> list[Frame]:
    """A smooth hand-held trajectory through the room's free space, rendered.

    The path is a cubic spline through a random walk of free waypoints, walked at
    ``speed_mps`` (±20 %, smooth) and sampled at ``fps``; consecutive frames are
    ``speed_mps / fps`` metres apart (3.5 cm by default), so they overlap strongly. The camera
    looks at a point wandering slowly through the middle of the room (smoothed to a few tens of
    degrees per second), with a small roll and hand-shake jitter (~0.2°, ~2 mm). Exposure
    adapts smoothly from frame to frame.

    Args:
        scene: a Scene.
        n_frames: frames to render (≥ 1).
        width, height: image size in pixels.
        seed: seeds trajectory, field of view (if None), camera model (if None) and noise.
        hfov_deg: horizontal field of view; None → uniform in [60°, 80°].
        fps: frame rate (timestamps are ``i / fps`` seconds).
        speed_mps: mean walking speed, metres per second.
        clearance_m: every camera position is at least this far from any surface.
        height_range_m: camera height range, metres.
        camera: camera model; None → ``CameraModel.sample``.
        progress: show a progress bar.
    Returns:
        ``n_frames`` Frames.
    Raises:
        ValueError for bad parameters, or if no free path is found in ``max_attempts``.
    """
    from scipy.ndimage import gaussian_filter1d
    from tqdm import tqdm

    n_frames = positive_int(n_frames, "n_frames")
    fps, speed_mps = positive_scalar(fps, "fps"), positive_scalar(speed_mps, "speed_mps")
    clearance_m = positive_scalar(clearance_m, "clearance_m")
    height_range_m = _check_range("height_range_m", height_range_m)
    rng = np.random.default_rng(seed)
    K = _intrinsics(rng, width, height, hfov_deg)
    camera = camera or CameraModel.sample(rng)
    times = np.arange(n_frames) / fps
    speed = speed_mps * (1.0 + _smooth_signal(rng, times[:-1], 0.2, (0.05, 0.2)))
    for _ in range(max_attempts):
        waypoints = _waypoints(scene, rng, float(np.sum(speed / fps)), clearance_m, height_range_m)
        if waypoints is None:
            continue
        positions = _resample_path(waypoints, speed / fps)
        positions += gaussian_filter1d(rng.normal(0, 0.002, positions.shape), 1.0, axis=0)
        if is_free(scene, positions, clearance_m).all():
            break
    else:
        raise ValueError(f"found no free path for {n_frames} frames in {max_attempts} attempts")
    yaw, pitch = _look_angles(scene, rng, positions, times, fps)
    shake = gaussian_filter1d(rng.normal(0, np.deg2rad(0.2), (3, n_frames)), 1.0, axis=1)
    yaw, pitch = yaw + shake[0], pitch + shake[1]
    roll = _smooth_signal(rng, times, np.deg2rad(2), (0.05, 0.2)) + shake[2]
    frames, gains = [], None
    for index in tqdm(range(n_frames), desc="walkthrough", unit="frame", disable=not progress):
        pose = pose_from_angles(positions[index], yaw[index], pitch[index], roll[index])
        buffers = scene.render_buffers(K, pose, width, height)
        target = camera.auto_gains(buffers.radiance)
        gains = target if gains is None else gains ** 0.7 * target ** 0.3
        frames.append(buffers.to_frame(camera, gains, rng, timestamp=float(times[index])))
    return frames


# ----------------------------------------------------------------------------- stereo


@dataclass(eq=False)
class StereoPair:
    """A rectified stereo pair.

    Attributes:
        left, right: Frames with the same K; ``right.world_T_cam = left.world_T_cam @
            translation(+baseline_m, 0, 0)`` (right camera on the left camera's +x axis).
        disparity: ``(H,W) float32`` GT disparity of the left view in pixels,
            ``fx · baseline / depth``; 0 where the left depth is invalid.
        occlusion: ``(H,W) bool`` True where a left pixel with valid depth is not visible in
            the right image (hidden or outside it).
        baseline_m: metres.
    """

    left: Frame
    right: Frame
    disparity: np.ndarray
    occlusion: np.ndarray
    baseline_m: float


def stereo_occlusion(left: Frame, right: Frame) -> np.ndarray:
    """``(H,W) bool``: valid left pixels not visible in the right view (see StereoPair)."""
    seen = visible_in(left.depth, left.K, left.world_T_cam, right.depth, right.K, right.world_T_cam,
                      abs_tol_m=0.01, rel_tol=0.01)
    return (left.depth > 0) & ~seen


def stereo_pair(scene, width: int, height: int, baseline_m: float | None = None, seed: int = 0,
                baseline_range_m: tuple[float, float] = (0.05, 0.25), hfov_deg: float | None = None,
                clearance_m: float = 0.3, camera: CameraModel | None = None, max_attempts: int = 50) -> StereoPair:
    """Render a rectified stereo pair from a random free viewpoint.

    Args:
        scene: a Scene.
        width, height: image size in pixels.
        baseline_m: baseline in metres (> 0); None → uniform in ``baseline_range_m``.
        seed: seeds viewpoint, baseline, field of view, camera model and noise.
        baseline_range_m: range for a random baseline, metres (0 < low ≤ high).
        hfov_deg: horizontal field of view; None → uniform in [60°, 80°].
        clearance_m: both cameras at least this far from any surface.
        camera: camera model shared by both views (same exposure); None → sampled.
    Returns:
        StereoPair.
    Raises:
        ValueError for a zero/negative/non-finite baseline or other bad parameters.
    """
    if baseline_m is not None:
        baseline_m = positive_scalar(baseline_m, "baseline_m")
    low, high = _check_range("baseline_range_m", baseline_range_m)
    if low <= 0:
        raise ValueError(f"baseline_range_m must be positive, got {baseline_range_m}")
    clearance_m = positive_scalar(clearance_m, "clearance_m")
    rng = np.random.default_rng(seed)
    baseline = baseline_m if baseline_m is not None else float(rng.uniform(low, high))
    K = _intrinsics(rng, width, height, hfov_deg)
    camera = camera or CameraModel.sample(rng)
    for _ in range(max_attempts):
        world_T_left = sample_view(scene, rng, K, width, height, clearance_m, pitch_range_deg=(-25.0, 5.0))
        world_T_right = world_T_left @ translation((baseline, 0.0, 0.0))
        if is_free(scene, world_T_right[None, :3, 3], clearance_m)[0]:
            break
    else:
        raise ValueError(f"found no free stereo rig with baseline {baseline} m in {max_attempts} attempts")
    left_buffers = scene.render_buffers(K, world_T_left, width, height)
    right_buffers = scene.render_buffers(K, world_T_right, width, height)
    gains = camera.auto_gains(left_buffers.radiance)
    left = left_buffers.to_frame(camera, gains, rng)
    right = right_buffers.to_frame(camera, gains, rng)
    disparity = depth_to_disparity(left.depth, K[0, 0], baseline).astype(np.float32)
    return StereoPair(left, right, disparity, stereo_occlusion(left, right), baseline)


# ----------------------------------------------------------------------------- view pairs


@dataclass(eq=False)
class ViewPair:
    """Two views of one region of a scene.

    Attributes:
        first, second: the Frames.
        overlap_iou: 3-D overlap IoU of the surfaces they see (see ``overlap.overlap_iou``).
        viewpoint_angle_deg: angle between their optical axes, degrees.
        croco_score: ``overlap_iou × 4·cosθ·(1 − cosθ)``.
    """

    first: Frame
    second: Frame
    overlap_iou: float
    viewpoint_angle_deg: float
    croco_score: float


def _pair_poses(scene, rng, K, width, height, distance_range_m, max_angle_deg, clearance_m,
                height_range_m=(0.6, 2.0), max_tries: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Poses of two cameras looking at one surface point: the first a random view, the second
    at ``distance_range_m`` from a point the first sees in the middle of its image (on an
    object when there is one), within ``max_angle_deg`` of the first's viewing direction and
    with a clear line of sight."""
    import open3d as o3d

    for _ in range(max_tries):
        world_T_a = sample_view(scene, rng, K, width, height, clearance_m)
        depth, instance = depth_and_instance(scene, K, world_T_a, width, height)
        middle = np.zeros_like(depth, bool)
        middle[height // 4: height - height // 4, width // 4: width - width // 4] = True
        candidates = np.flatnonzero(middle & (depth > 0) & ~scene.is_structure(instance))
        if candidates.size == 0:
            candidates = np.flatnonzero(middle & (depth > 0))
        if candidates.size == 0:
            continue
        row, column = divmod(int(candidates[rng.integers(candidates.size)]), width)
        z = depth[row, column]
        ray = np.linalg.inv(K) @ [column, row, 1.0]
        target = world_T_a[:3, :3] @ (ray * z) + world_T_a[:3, 3]
        towards_a = world_T_a[:3, 3] - target
        towards_a /= np.linalg.norm(towards_a)
        for _ in range(30):
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            angle = np.degrees(np.arccos(np.clip(direction @ towards_a, -1, 1)))
            eye = target + direction * rng.uniform(*distance_range_m)
            if angle > max_angle_deg or not height_range_m[0] <= eye[2] <= height_range_m[1]:
                continue
            if not is_free(scene, eye[None], clearance_m)[0]:
                continue
            sight = (target - eye).astype(np.float32)
            hit = scene.raycaster.cast_rays(o3d.core.Tensor(np.concatenate([eye, sight])[None].astype(np.float32)))
            if hit["t_hit"].numpy()[0] < 0.97:
                continue
            jitter = rng.normal(0, 0.1, 3)
            world_T_b = pose_from_angles(eye, *_yaw_pitch(target + jitter - eye), np.deg2rad(rng.normal(0, 2)))
            return world_T_a, world_T_b
    raise ValueError(f"found no second view within {max_angle_deg}° in {max_tries} tries")


def _yaw_pitch(direction) -> tuple[float, float]:
    """Heading and elevation (radians) of a 3-D direction (pitch clipped to ±80°)."""
    direction = np.asarray(direction, np.float64)
    pitch = np.arctan2(direction[2], np.hypot(direction[0], direction[1]))
    return float(np.arctan2(direction[1], direction[0])), float(np.clip(pitch, -np.deg2rad(80), np.deg2rad(80)))


def _render_pair(scene, K, poses, width, height, camera, rng) -> ViewPair:
    frames = []
    for pose in poses:
        buffers = scene.render_buffers(K, pose, width, height)
        frames.append(buffers.to_frame(camera, camera.auto_gains(buffers.radiance), rng))
    iou = overlap_iou(frames[0], frames[1])
    angle = viewpoint_angle_deg(poses[0], poses[1])
    return ViewPair(frames[0], frames[1], iou, angle, croco_score(iou, angle))


def view_pair(scene, width: int, height: int, seed: int = 0, hfov_deg: float | None = None,
              distance_range_m: tuple[float, float] = (0.8, 3.0), max_angle_deg: float = 90.0,
              clearance_m: float = 0.3, camera: CameraModel | None = None) -> ViewPair:
    """Render two views of the same region (the second looks at a point the first sees).

    Args:
        scene: a Scene.
        width, height: image size in pixels (both views share K).
        seed: seeds viewpoints, field of view, camera model and noise.
        distance_range_m: second camera's distance to the shared point, metres.
        max_angle_deg: largest angle between the two directions towards the shared point.
        clearance_m: both cameras at least this far from any surface.
        camera: camera model; None → sampled. Each view gets its own auto exposure.
    Returns:
        ViewPair with overlap IoU, viewpoint angle and CroCo score.
    """
    distance_range_m = _check_range("distance_range_m", distance_range_m, 0.1)
    max_angle_deg = positive_scalar(max_angle_deg, "max_angle_deg")
    clearance_m = positive_scalar(clearance_m, "clearance_m")
    rng = np.random.default_rng(seed)
    K = _intrinsics(rng, width, height, hfov_deg)
    camera = camera or CameraModel.sample(rng)
    poses = _pair_poses(scene, rng, K, width, height, distance_range_m, max_angle_deg, clearance_m)
    return _render_pair(scene, K, poses, width, height, camera, rng)


def mine_view_pairs(scene, n_pairs: int, width: int, height: int, seed: int = 0, hfov_deg: float | None = None,
                    candidates_per_pair: int = 8, min_score: float = 0.15, max_rounds: int = 5,
                    distance_range_m: tuple[float, float] = (0.8, 3.0), clearance_m: float = 0.3,
                    probe_width: int = 64, progress: bool = True) -> list[ViewPair]:
    """CroCo v2-style pair mining: for each pair, sample candidate view pairs, score them
    (overlap IoU × angle term) on cheap low-resolution depth probes, keep the best, and render
    it if it scores at least ``min_score``.

    Args:
        n_pairs: pairs to return.
        candidates_per_pair: candidates scored per round.
        min_score: lowest acceptable CroCo score (on the probe); rounds repeat up to
            ``max_rounds`` until a candidate reaches it.
        probe_width: width of the depth probes in pixels.
        Other arguments as in :func:`view_pair`.
    Returns:
        ``n_pairs`` ViewPairs (metrics recomputed at full resolution).
    Raises:
        ValueError if a pair reaching ``min_score`` is not found within ``max_rounds``.
    """
    from tqdm import tqdm

    n_pairs = positive_int(n_pairs, "n_pairs")
    candidates_per_pair = positive_int(candidates_per_pair, "candidates_per_pair")
    if not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score must be in [0, 1], got {min_score!r}")
    distance_range_m = _check_range("distance_range_m", distance_range_m, 0.1)
    rng = np.random.default_rng(seed)
    K = _intrinsics(rng, width, height, hfov_deg)
    scale = positive_int(probe_width, "probe_width") / width
    probe_K, probe_h = scale_K(K, scale, scale), max(1, int(round(height * scale)))
    camera = CameraModel.sample(rng)
    pairs = []
    for _ in tqdm(range(n_pairs), desc="mining pairs", unit="pair", disable=not progress):
        best_score, best_poses = -1.0, None
        for _round in range(max_rounds):
            for _candidate in range(candidates_per_pair):
                poses = _pair_poses(scene, rng, K, width, height, distance_range_m, 90.0, clearance_m)
                depths = [depth_only(scene, probe_K, pose, probe_width, probe_h) for pose in poses]
                iou = overlap_iou_from_depth(depths[0], probe_K, poses[0], depths[1], probe_K, poses[1], stride=1)
                score = croco_score(iou, viewpoint_angle_deg(*poses))
                if score > best_score:
                    best_score, best_poses = score, poses
            if best_score >= min_score:
                break
        else:
            raise ValueError(f"no candidate pair reached min_score {min_score} (best {best_score:.3f})")
        pairs.append(_render_pair(scene, K, best_poses, width, height, camera, rng))
    return pairs
