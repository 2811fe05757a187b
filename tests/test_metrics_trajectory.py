"""ATE / RPE (TUM RGB-D benchmark definitions) on known cases and against evo."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from edgegeo.metrics.trajectory import (absolute_trajectory_error, align_rigid, associate_poses,
                                        relative_pose_error)


def _walk(n=50, seed=0):
    """A smooth trajectory: (n,4,4) world_T_cam, 10 Hz stamps."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 10.0
    poses = np.repeat(np.eye(4)[None], n, 0)
    poses[:, :3, 3] = np.stack([np.sin(t), np.cos(0.7 * t), 0.1 * t], 1)
    angles = np.cumsum(rng.normal(0, 0.02, (n, 3)), 0)
    poses[:, :3, :3] = Rotation.from_rotvec(angles).as_matrix()
    return t, poses


def test_ate_is_zero_for_a_rigidly_moved_copy_and_finds_the_motion():
    _, true = _walk()
    motion = np.eye(4)
    motion[:3, :3] = Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix()
    motion[:3, 3] = (1.0, -2.0, 0.5)
    est = motion[None] @ true
    ate = absolute_trajectory_error(est, true)
    assert ate.rmse < 1e-9 and ate.pairs == len(true)
    np.testing.assert_allclose(ate.alignment, np.linalg.inv(motion), atol=1e-9)


def test_ate_of_a_known_offset():
    _, true = _walk()
    est = true.copy()
    est[::2, 0, 3] += 0.01            # half the positions 1 cm off along x, half exact
    est[1::2, 0, 3] -= 0.01           # (symmetric: alignment cannot absorb it)
    ate = absolute_trajectory_error(est, true)
    assert ate.rmse == pytest.approx(0.01, rel=0.05)


def test_rpe_of_a_constant_drift():
    t, true = _walk()
    est = true.copy()
    drift = 0.02                       # 2 cm/s along the world x axis, no rotation error
    est[:, 0, 3] += drift * t
    rpe = relative_pose_error(est, true, t, delta=1.0, unit="s")
    assert rpe.translation_rmse == pytest.approx(drift, rel=1e-6)
    assert rpe.rotation_rmse < 1e-6 and rpe.pairs == len(t) - 10
    per_metre = relative_pose_error(est, true, delta=0.5, unit="m")
    assert per_metre.unit == "m" and per_metre.pairs > 0


def test_bad_inputs_are_named():
    _, true = _walk(5)
    with pytest.raises(ValueError, match="estimated poses must be"):
        absolute_trajectory_error(true[:, :3], true)
    with pytest.raises(ValueError, match="too short"):
        relative_pose_error(true, true, np.arange(5) / 10.0, delta=10.0)
    with pytest.raises(ValueError, match="needs the poses' timestamps"):
        relative_pose_error(true, true)
    with pytest.raises(ValueError, match="no estimated pose is within"):
        associate_poses([0.0, 1.0], [5.0, 6.0])


def test_association_pairs_by_time():
    est_index, true_index = associate_poses([0.1, 0.2, 0.3], [0.0, 0.099, 0.205, 0.4])
    assert est_index.tolist() == [0, 1] and true_index.tolist() == [1, 2]


def test_align_rigid_ignores_scale_and_handles_reflections():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(20, 3))
    mirrored = points * np.array([1, 1, -1])
    T = align_rigid(points, mirrored)
    assert np.linalg.det(T[:3, :3]) == pytest.approx(1.0)


def test_matches_evo():
    pytest.importorskip("evo.core")
    from evo.core import metrics, sync
    from evo.core.trajectory import PoseTrajectory3D

    t, true = _walk(80, seed=3)
    rng = np.random.default_rng(4)
    est = true.copy()
    est[:, :3, 3] += rng.normal(0, 0.01, (len(t), 3)) + 0.01 * t[:, None]
    noise = Rotation.from_rotvec(rng.normal(0, 0.01, (len(t), 3))).as_matrix()
    est[:, :3, :3] = est[:, :3, :3] @ noise
    ours_ate = absolute_trajectory_error(est, true)
    traj_est = PoseTrajectory3D(poses_se3=list(est), timestamps=t)
    traj_ref = PoseTrajectory3D(poses_se3=list(true), timestamps=t)
    traj_ref, traj_est = sync.associate_trajectories(traj_ref, traj_est)
    traj_est.align(traj_ref, correct_scale=False)
    ape = metrics.APE(metrics.PoseRelation.translation_part)
    ape.process_data((traj_ref, traj_est))
    assert ours_ate.rmse == pytest.approx(ape.get_statistic(metrics.StatisticsType.rmse),
                                          rel=1e-6)
    # RPE over every pair 10 frames (1 s) apart: evo's delta in frames, all pairs
    ours_rpe = relative_pose_error(est, true, t, delta=1.0, unit="s")
    traj_est = PoseTrajectory3D(poses_se3=list(est), timestamps=t)
    traj_ref = PoseTrajectory3D(poses_se3=list(true), timestamps=t)
    for relation, ours_key in ((metrics.PoseRelation.translation_part, "translation_rmse"),
                               (metrics.PoseRelation.rotation_angle_deg, "rotation_rmse")):
        rpe = metrics.RPE(relation, delta=10, delta_unit=metrics.Unit.frames, all_pairs=True)
        rpe.process_data((traj_ref, traj_est))
        assert getattr(ours_rpe, ours_key) == pytest.approx(
            rpe.get_statistic(metrics.StatisticsType.rmse), rel=1e-5)
