"""Camera-trajectory metrics with the TUM RGB-D benchmark's definitions (Sturm et al., "A
Benchmark for the Evaluation of RGB-D SLAM Systems", IROS 2012; its ``evaluate_ate.py`` and
``evaluate_rpe.py``):

* **ATE** (absolute trajectory error): the estimated positions are rigidly aligned to the true
  ones (rotation + translation, no scale: Horn's closed form, here through Umeyama's SVD), then
  the RMSE of the remaining position differences, metres.
* **RPE** (relative pose error): for every pair of poses ``delta`` apart (seconds, or metres
  travelled along the true path), the error of the estimated relative motion against the true
  one, ``E = (Q_i⁻¹ Q_j)⁻¹ (P_i⁻¹ P_j)``; its translation (m) and rotation angle (degrees),
  as RMSE, and divided by ``delta``: drift per second or per metre.

Poses are ``(N,4,4)`` camera-to-world (``world_T_cam``), metres. Estimated and true poses are
paired by timestamp (:func:`associate_poses`) with the TUM tolerance of 0.02 s.
``tests/test_metrics_trajectory.py`` checks both against ``evo``, the standard package.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgegeo.geometry import rotation_angle_deg
from edgegeo.limits import check_distances

DEFAULT_MAX_DIFFERENCE_S = 0.02


def _poses(poses, name: str) -> np.ndarray:
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise ValueError(f"{name} must be (N,4,4) poses, got shape {poses.shape}")
    check_distances(poses[:, :3, 3], f"{name} (translations)")
    if not np.isfinite(poses).all():
        raise ValueError(f"{name} has NaN/inf values")
    return poses


def associate_poses(est_stamps, true_stamps, max_difference: float = DEFAULT_MAX_DIFFERENCE_S
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(est_index, true_index)`` of estimated poses paired with the true pose nearest
    in time, within ``max_difference`` seconds (each true pose used once, TUM's rule)."""
    from edgegeo.data.tum import associate

    pairs = associate(np.asarray(est_stamps, np.float64), np.asarray(true_stamps, np.float64),
                      max_difference)
    if not pairs:
        raise ValueError(f"no estimated pose is within {max_difference} s of a true pose")
    est_index, true_index = (np.array(index) for index in zip(*sorted(pairs)))
    return est_index, true_index


def align_rigid(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The ``(4,4)`` rigid transform ``T`` minimising ``Σ |T·source_i − target_i|²`` (no
    scale; Horn 1987 / Umeyama 1991 via SVD). ``source``, ``target``: ``(N,3)`` points, N ≥ 3
    not all on a line for a unique rotation (fewer: the best translation only)."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 3:
        raise ValueError(f"need two (N,3) point sets, got {source.shape} and {target.shape}")
    mu_s, mu_t = source.mean(0), target.mean(0)
    T = np.eye(4)
    if len(source) >= 3:
        U, _, Vt = np.linalg.svd((target - mu_t).T @ (source - mu_s))
        D = np.eye(3)
        D[2, 2] = np.sign(np.linalg.det(U @ Vt)) or 1.0
        T[:3, :3] = U @ D @ Vt
    T[:3, 3] = mu_t - T[:3, :3] @ mu_s
    return T


@dataclass(frozen=True)
class ATE:
    """Absolute trajectory error after rigid alignment, metres.

    Attributes:
        rmse, mean, median, max: of the per-pose position errors.
        errors: ``(N,)`` the per-pose errors.
        alignment: ``(4,4)`` the transform applied to the estimate (true_world_T_est_world).
        pairs: poses compared.
    """

    rmse: float
    mean: float
    median: float
    max: float
    errors: np.ndarray
    alignment: np.ndarray
    pairs: int


def absolute_trajectory_error(est_world_T_cam, true_world_T_cam) -> ATE:
    """ATE of ``(N,4,4)`` estimated poses against ``(N,4,4)`` true ones (paired in order;
    see :func:`associate_poses` for timestamps)."""
    est, true = _poses(est_world_T_cam, "estimated poses"), _poses(true_world_T_cam, "true poses")
    if len(est) != len(true) or len(est) == 0:
        raise ValueError(f"need as many estimated as true poses (> 0), got {len(est)} and "
                         f"{len(true)}")
    alignment = align_rigid(est[:, :3, 3], true[:, :3, 3])
    aligned = est[:, :3, 3] @ alignment[:3, :3].T + alignment[:3, 3]
    errors = np.linalg.norm(aligned - true[:, :3, 3], axis=1)
    return ATE(float(np.sqrt(np.mean(errors ** 2))), float(errors.mean()),
               float(np.median(errors)), float(errors.max()), errors, alignment, len(errors))


@dataclass(frozen=True)
class RPE:
    """Relative pose error over pairs ``delta`` apart.

    Attributes:
        translation_rmse: metres; ``rotation_rmse``: degrees.
        translation_drift: ``translation_rmse / delta`` (metres per second or per metre);
            ``rotation_drift``: degrees per second or per metre.
        delta, unit: the pair spacing and its unit (``s`` or ``m``).
        pairs: pairs compared.
    """

    translation_rmse: float
    rotation_rmse: float
    translation_drift: float
    rotation_drift: float
    delta: float
    unit: str
    pairs: int


def relative_pose_error(est_world_T_cam, true_world_T_cam, stamps=None, delta: float = 1.0,
                        unit: str = "s") -> RPE:
    """RPE of ``(N,4,4)`` estimated poses against true ones, paired in order.

    Args:
        stamps: ``(N,)`` seconds (needed for ``unit="s"``).
        delta: spacing of the compared pairs: seconds (``unit="s"``) or metres travelled along
            the true path (``unit="m"``). Each pose ``i`` is paired with the first pose ``j``
            at least ``delta`` later.
    Raises:
        ValueError: mismatched inputs, or no pair ``delta`` apart (sequence too short).
    """
    est, true = _poses(est_world_T_cam, "estimated poses"), _poses(true_world_T_cam, "true poses")
    if len(est) != len(true):
        raise ValueError(f"{len(est)} estimated but {len(true)} true poses")
    if unit not in ("s", "m"):
        raise ValueError(f"unit must be 's' or 'm', got {unit!r}")
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    if unit == "s":
        if stamps is None:
            raise ValueError("unit='s' needs the poses' timestamps")
        position = np.asarray(stamps, np.float64)
        if position.shape != (len(est),):
            raise ValueError(f"stamps must be ({len(est)},), got {position.shape}")
    else:
        steps = np.linalg.norm(np.diff(true[:, :3, 3], axis=0), axis=1)
        position = np.concatenate([[0.0], np.cumsum(steps)])
    later = np.searchsorted(position, position + delta - 1e-9)
    translation, rotation = [], []
    for i, j in enumerate(later):
        if j >= len(est):
            break
        true_step = np.linalg.inv(true[i]) @ true[j]
        est_step = np.linalg.inv(est[i]) @ est[j]
        error = np.linalg.inv(true_step) @ est_step
        translation.append(np.linalg.norm(error[:3, 3]))
        rotation.append(rotation_angle_deg(error[:3, :3]))
    if not translation:
        raise ValueError(f"no pose pair is {delta} {unit} apart: the trajectory is too short")
    t_rmse = float(np.sqrt(np.mean(np.square(translation))))
    r_rmse = float(np.sqrt(np.mean(np.square(rotation))))
    return RPE(t_rmse, r_rmse, t_rmse / delta, r_rmse / delta, float(delta), unit,
               len(translation))


__all__ = ["ATE", "RPE", "absolute_trajectory_error", "align_rigid", "associate_poses",
           "relative_pose_error"]
