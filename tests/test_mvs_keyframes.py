"""The DeepVideoMVS keyframe rule and source penalty on hand-built trajectories, with the
expected keyframes and sources worked out by hand."""
import math

import numpy as np
import pytest

from edgegeo.models.mvs.keyframes import (KeyframeBuffer, pose_measures, select_sources,
                                          source_penalty)


def pose(x=0.0, y=0.0, z=0.0, yaw_deg=0.0):
    """Camera-to-world pose at (x, y, z), rotated ``yaw_deg`` about the camera's y axis."""
    a = math.radians(yaw_deg)
    T = np.eye(4)
    T[:3, :3] = [[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]]
    T[:3, 3] = [x, y, z]
    return T


def test_measures_follow_the_deepvideomvs_formula():
    """R_m = sqrt(2 (1 − min(3, tr R) / 3)), t_m = ‖t‖ of inv(ref) @ other."""
    ref, other = pose(0.5, 0.2, 1.0, 10), pose(0.7, 0.1, 1.1, 25)
    rel = np.linalg.inv(ref) @ other
    R_m = math.sqrt(2 * (1 - min(3.0, np.trace(rel[:3, :3])) / 3))
    t_m = np.linalg.norm(rel[:3, 3])
    distance, got_R, got_t = pose_measures(ref, other)
    assert got_R == pytest.approx(R_m) and got_t == pytest.approx(t_m)
    assert distance == pytest.approx(math.sqrt(R_m ** 2 + t_m ** 2))
    # A pure rotation by θ: R_m² = 2/3 (3 − (1 + 2 cos θ)) = 4/3 (1 − cos θ).
    assert pose_measures(pose(), pose(yaw_deg=30))[1] ** 2 == pytest.approx(
        4 / 3 * (1 - math.cos(math.radians(30))))


def test_penalty_prefers_15_cm_and_punishes_short_baselines_five_times():
    assert source_penalty(0.0, 0.15) == 0.0
    assert source_penalty(0.0, 0.25) == pytest.approx(0.01)           # (0.1)²
    assert source_penalty(0.0, 0.05) == pytest.approx(0.05)           # 5 · (0.1)²
    assert source_penalty(0.2, 0.15) == pytest.approx(0.04)           # R_m²


def test_keyframes_on_a_straight_walk():
    """Positions along x (no rotation); a keyframe when ≥ 0.1 m from the last keyframe:
    0 (first) · 0.04 · 0.08 · 0.12 ✓ · 0.16 · 0.21 · 0.25 ✓ · 0.33 · 0.36 ✓ · 0.40 · 0.47 ✓
    (0.33 is only 0.08 from 0.25; 0.21 only 0.09 from 0.12)."""
    xs = [0.0, 0.04, 0.08, 0.12, 0.16, 0.21, 0.25, 0.33, 0.36, 0.40, 0.47]
    buffer = KeyframeBuffer()
    added = [buffer.try_add(pose(x), item=i) for i, x in enumerate(xs)]
    assert [x for x, a in zip(xs, added) if a] == [0.0, 0.12, 0.25, 0.36, 0.47]
    assert [k.index for k in buffer.keyframes] == [0, 3, 6, 8, 10]
    assert [k.item for k in buffer.keyframes] == [0, 3, 6, 8, 10]


def test_rotation_alone_makes_a_keyframe_past_about_7_degrees():
    """Pose distance of a rotation θ is sqrt(4/3 (1 − cos θ)) ≥ 0.1 ⇔ θ ≥ 7.02°."""
    assert math.degrees(math.acos(1 - 0.0075)) == pytest.approx(7.02, abs=0.01)
    buffer = KeyframeBuffer()
    assert buffer.try_add(pose())
    assert not buffer.try_add(pose(yaw_deg=6.0))
    assert buffer.try_add(pose(yaw_deg=8.0))
    assert not buffer.try_add(pose(yaw_deg=14.0))    # 6° from the last keyframe (8°)
    assert buffer.try_add(pose(yaw_deg=15.5))


def test_sources_are_the_lowest_penalty_keyframes():
    """Reference at x = 1; candidates (t_m, rotation) with their hand-computed penalties:
    0.05 → 5·0.1² = 0.05; 0.10 → 5·0.05² = 0.0125; 0.15 → 0; 0.20 → 0.0025; 0.30 → 0.0225;
    0.50 → 0.1225; 0.15 with 10° → 4/3 (1 − cos 10°) = 0.0202563."""
    ref = pose(1.0)
    candidates = [pose(1.0 - 0.05), pose(1.10), pose(1.0 - 0.15), pose(1.20), pose(1.0 - 0.30),
                  pose(1.50), pose(1.15, yaw_deg=10)]
    penalties = [source_penalty(*pose_measures(ref, c)[1:]) for c in candidates]
    np.testing.assert_allclose(penalties, [0.05, 0.0125, 0.0, 0.0025, 0.0225, 0.1225, 0.0202563],
                               atol=1e-6)
    assert select_sources(ref, candidates, 4) == [2, 3, 1, 6]
    assert select_sources(ref, candidates, 10) == [2, 3, 1, 6, 4, 0, 5]
    assert select_sources(ref, candidates, 0) == []


def test_buffer_sources_exclude_the_reference_keyframe_and_keep_the_last_30():
    buffer = KeyframeBuffer(size=30)
    for i in range(40):
        assert buffer.try_add(pose(0.12 * i), item=i)
    assert len(buffer) == 30 and buffer.keyframes[0].item == 10
    newest = buffer.keyframes[-1]
    sources = buffer.sources_for(newest.world_T_cam, 3, exclude_last=True)
    # Keyframes 0.12 m apart: t = 0.12 (5·0.03² = 0.0045), 0.24 (0.0081), 0.36 (0.0441).
    assert [k.item for k in sources] == [38, 37, 36]
    # Without excluding it, the reference itself (t = 0, penalty 5·0.15²) is a candidate too.
    assert [k.item for k in buffer.sources_for(newest.world_T_cam, 30)][:3] == [38, 37, 36]
    assert newest in buffer.sources_for(newest.world_T_cam, 30)


@pytest.mark.parametrize("bad, message", [
    (np.full((4, 4), np.nan), "NaN"),
    (np.diag([2.0, 1.0, 1.0, 1.0]), "orthonormal"),
    (np.diag([-1.0, 1.0, 1.0, 1.0]), "det"),
    (np.eye(3), "shape"),
])
def test_bad_poses_raise_and_leave_the_buffer_unchanged(bad, message):
    buffer = KeyframeBuffer()
    buffer.try_add(pose())
    with pytest.raises(ValueError, match=message):
        buffer.try_add(bad)
    with pytest.raises(ValueError, match=message):
        buffer.sources_for(bad, 3)
    assert len(buffer) == 1
    assert buffer.try_add(pose(0.2))


def test_bad_buffer_settings():
    with pytest.raises(ValueError, match="size"):
        KeyframeBuffer(size=1)
    with pytest.raises(ValueError, match="keyframe_distance"):
        KeyframeBuffer(keyframe_distance=float("nan"))
