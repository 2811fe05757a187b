"""The DeepVideoMVS keyframe buffer and test-time source selection (used by SimpleRecon).

Checked against the authors' code (``ardaduz/deep-video-mvs``: ``dvmvs/keyframe_buffer.py``,
``dvmvs/utils.py::pose_distance``, ``dvmvs/config.py``; SimpleRecon's
``tools/keyframe_buffer.py`` is a copy):

* Measures between a reference pose and another pose, both camera-to-world:
  ``rel = inv(world_T_ref) @ world_T_m`` (``ref_T_m``), ``t_m = ‖rel[:3, 3]‖`` — the distance
  between the two camera centres in metres — and
  ``R_m = sqrt(2 · (1 − min(3, tr rel[:3, :3]) / 3)) = sqrt(2/3 · (3 − min(3, tr R)))``
  (unitless; ``R_m² = 2/3 · (3 − tr R) ≈ (2/3) θ²`` for a rotation by a small angle θ);
  pose distance ``sqrt(t_m² + R_m²)`` (= :func:`edgegeo.geometry.pose_distance`; ``t_m`` and
  ``R_m²`` are :func:`edgegeo.geometry.pose_distance_parts`).
* Keyframes: the first posed frame, then every frame whose pose distance to the **last
  keyframe** is ≥ 0.1 (``test_keyframe_pose_distance``). The buffer keeps the last 30
  (``test_keyframe_buffer_size``, a deque).
* Sources for a reference: the buffered keyframes (other than the reference) with the lowest
  penalty ``|R_m − 0|² + w · (t_m − 0.15)²`` with ``w = 5`` if ``t_m < 0.15`` else 1
  (``test_optimal_R_measure = 0``, ``test_optimal_t_measure = 0.15``): sources about 15 cm
  away with little rotation are best, and too-short baselines are punished five times harder
  than too-long ones.
* DeepVideoMVS predicts depth only for the newest keyframe, with all earlier buffered
  keyframes as candidates. A frame without a pose (NaN) counts as tracking loss there; edgegeo
  refuses NaN or non-rigid poses with a ValueError instead.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgegeo.geometry.poses import pose_distance_parts, relative_pose, validate_pose

KEYFRAME_POSE_DISTANCE = 0.1
BUFFER_SIZE = 30
OPTIMAL_T = 0.15
OPTIMAL_R = 0.0
SHORT_BASELINE_WEIGHT = 5.0


def pose_measures(world_T_ref, world_T_m) -> tuple[float, float, float]:
    """DeepVideoMVS ``(pose_distance, R_m, t_m)`` of a pose relative to a reference pose
    (both ``(4, 4)`` camera-to-world). Raises ValueError for non-rigid or non-finite poses."""
    t_m, rot_term = pose_distance_parts(relative_pose(world_T_ref, world_T_m))
    R_m = math.sqrt(rot_term)
    return math.sqrt(t_m ** 2 + rot_term), R_m, t_m


def source_penalty(R_m: float, t_m: float, optimal_t: float = OPTIMAL_T,
                   optimal_R: float = OPTIMAL_R,
                   short_weight: float = SHORT_BASELINE_WEIGHT) -> float:
    """``|R_m − optimal_R|² + w · (t_m − optimal_t)²`` with ``w = short_weight`` if
    ``t_m < optimal_t`` else 1 (DeepVideoMVS ``calculate_penalty``)."""
    t_diff = t_m - optimal_t
    weight = short_weight if t_diff < 0.0 else 1.0
    return abs(R_m - optimal_R) ** 2 + weight * t_diff ** 2


def select_sources(world_T_ref, candidate_poses, count: int, optimal_t: float = OPTIMAL_T,
                   optimal_R: float = OPTIMAL_R,
                   short_weight: float = SHORT_BASELINE_WEIGHT) -> list[int]:
    """Indices of the ``count`` candidates with the lowest :func:`source_penalty` relative to
    ``world_T_ref``, best first (ties: earlier index first). Fewer if there are fewer
    candidates."""
    penalties = []
    for pose in candidate_poses:
        _, R_m, t_m = pose_measures(world_T_ref, pose)
        penalties.append(source_penalty(R_m, t_m, optimal_t, optimal_R, short_weight))
    order = np.argsort(np.asarray(penalties, dtype=np.float64), kind="stable")
    return [int(i) for i in order[:max(0, count)]]


@dataclass(eq=False)
class Keyframe:
    """A buffered keyframe: its pose, what the caller stored with it, and its frame index."""

    world_T_cam: np.ndarray
    item: Any
    index: int


class KeyframeBuffer:
    """DeepVideoMVS's online keyframe buffer.

    Args:
        size: keyframes kept (oldest dropped first); 30 in DeepVideoMVS.
        keyframe_distance: a frame becomes a keyframe when its pose distance to the last
            keyframe is ≥ this (0.1).
        optimal_t, optimal_R, short_weight: the source penalty's parameters (0.15, 0, 5).
    """

    def __init__(self, size: int = BUFFER_SIZE, keyframe_distance: float = KEYFRAME_POSE_DISTANCE,
                 optimal_t: float = OPTIMAL_T, optimal_R: float = OPTIMAL_R,
                 short_weight: float = SHORT_BASELINE_WEIGHT):
        if not isinstance(size, int) or size < 2:
            raise ValueError(f"buffer size must be an integer >= 2, got {size!r}")
        if not keyframe_distance >= 0:
            raise ValueError(f"keyframe_distance must be >= 0, got {keyframe_distance!r}")
        self.keyframes: deque[Keyframe] = deque(maxlen=size)
        self.keyframe_distance = float(keyframe_distance)
        self.optimal_t, self.optimal_R = float(optimal_t), float(optimal_R)
        self.short_weight = float(short_weight)
        self._frames_seen = 0

    def __len__(self) -> int:
        return len(self.keyframes)

    def is_keyframe(self, world_T_cam) -> bool:
        """Would a frame at this pose become a keyframe now? (Buffer unchanged.)"""
        pose = validate_pose(world_T_cam, "world_T_cam")
        if not self.keyframes:
            return True
        return pose_measures(self.keyframes[-1].world_T_cam, pose)[0] >= self.keyframe_distance

    def try_add(self, world_T_cam, item: Any = None) -> bool:
        """Add the frame as a keyframe if the rule says so; True if it was added.

        Raises:
            ValueError: a non-finite or non-rigid pose.
        """
        pose = validate_pose(world_T_cam, "world_T_cam")
        index = self._frames_seen
        self._frames_seen += 1
        if not self.is_keyframe(pose):
            return False
        self.keyframes.append(Keyframe(pose, item, index))
        return True

    def sources_for(self, world_T_ref, count: int, exclude_last: bool = False,
                    exclude: Keyframe | None = None) -> list[Keyframe]:
        """The ``count`` buffered keyframes with the lowest penalty w.r.t. ``world_T_ref``,
        best first (fewer if the buffer holds fewer).

        Args:
            world_T_ref: the reference pose.
            count: sources wanted (7 in SimpleRecon).
            exclude_last: leave out the newest keyframe (True when the reference *is* the
                newest keyframe, as in DeepVideoMVS).
            exclude: leave out this keyframe (the reference, when it is an older one).
        """
        pose = validate_pose(world_T_ref, "world_T_ref")
        candidates = list(self.keyframes)[:-1] if exclude_last else list(self.keyframes)
        candidates = [k for k in candidates if k is not exclude]
        chosen = select_sources(pose, [k.world_T_cam for k in candidates], count,
                                self.optimal_t, self.optimal_R, self.short_weight)
        return [candidates[i] for i in chosen]

    def clear(self) -> None:
        """Forget all keyframes (e.g. after a relocalisation)."""
        self.keyframes.clear()
