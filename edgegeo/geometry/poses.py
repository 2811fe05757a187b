"""Rigid poses as 4×4 float64 matrices named ``a_T_b`` (maps points in frame b into frame a).

The world frame is z-up; camera frames are OpenCV (x right, y down, z forward).
"""
import numpy as np

from edgegeo.checks import as_finite_array


def validate_pose(T, name: str = "world_T_cam", atol: float = 1e-4) -> np.ndarray:
    """Check a rigid transform and return a float64 copy.

    Requires shape (4, 4), finite entries, last row ``[0, 0, 0, 1]`` and a rotation block ``R``
    with ``R @ R.T == I`` and ``det(R) == +1`` to within ``atol``.

    Returns:
        (4, 4) float64 copy of ``T``.
    Raises:
        ValueError naming ``name`` and the problem.
    """
    pose = as_finite_array(T, name, (4, 4))
    if not np.allclose(pose[3], [0.0, 0.0, 0.0, 1.0], rtol=0.0, atol=atol):
        raise ValueError(f"{name}: last row must be [0, 0, 0, 1], got {pose[3].tolist()}")
    rotation = pose[:3, :3]
    orthogonality_error = np.abs(rotation @ rotation.T - np.eye(3)).max()
    if orthogonality_error > atol:
        raise ValueError(f"{name}: rotation block is not orthonormal "
                         f"(max |R R^T - I| = {orthogonality_error:.2e} > atol={atol})")
    determinant = np.linalg.det(rotation)
    if abs(determinant - 1.0) > atol:
        raise ValueError(f"{name}: rotation block must have det +1 (a proper rotation), "
                         f"got det = {determinant:.6f}")
    return pose


def invert_pose(a_T_b) -> np.ndarray:
    """Inverse of a rigid transform in closed form: ``b_T_a = [[R^T, -R^T t], [0, 1]]``.

    Args:
        a_T_b: (4, 4) rigid transform.
    Returns:
        b_T_a: (4, 4) float64.
    """
    pose = validate_pose(a_T_b, name="a_T_b")
    rotation_t = pose[:3, :3].T
    inverse = np.eye(4)
    inverse[:3, :3] = rotation_t
    inverse[:3, 3] = -rotation_t @ pose[:3, 3]
    return inverse


def relative_pose(world_T_a, world_T_b) -> np.ndarray:
    """Transform from camera b to camera a: ``a_T_b = inv(world_T_a) @ world_T_b``.

    Args:
        world_T_a, world_T_b: (4, 4) camera-to-world poses.
    Returns:
        a_T_b: (4, 4) float64.
    """
    world_T_b = validate_pose(world_T_b, name="world_T_b")
    return invert_pose(validate_pose(world_T_a, name="world_T_a")) @ world_T_b


def look_at(eye, target, world_up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera-to-world pose of an OpenCV camera at ``eye`` looking at ``target``.

    Camera +z points from ``eye`` to ``target``; camera +y ("image down") is ``-world_up``
    made orthogonal to the view direction; camera +x = y × z (image right).

    Args:
        eye, target: (3,) world points in metres.
        world_up: (3,) world up direction (edgegeo's world is z-up).
    Returns:
        world_T_cam: (4, 4) float64.
    Raises:
        ValueError if eye == target or the view direction is parallel to ``world_up``.
    """
    eye = as_finite_array(eye, "eye", (3,))
    target = as_finite_array(target, "target", (3,))
    up = as_finite_array(world_up, "world_up", (3,))
    view = target - eye
    view_length = np.linalg.norm(view)
    if view_length < 1e-12:
        raise ValueError("look_at: eye and target coincide")
    up_length = np.linalg.norm(up)
    if up_length < 1e-12:
        raise ValueError("look_at: world_up must be non-zero")
    z_axis = view / view_length
    down = -up / up_length
    y_axis = down - np.dot(down, z_axis) * z_axis
    y_length = np.linalg.norm(y_axis)
    if y_length < 1e-6:
        raise ValueError("look_at: view direction is parallel to world_up")
    y_axis /= y_length
    x_axis = np.cross(y_axis, z_axis)
    world_T_cam = np.eye(4)
    world_T_cam[:3, :3] = np.stack([x_axis, y_axis, z_axis], axis=1)
    world_T_cam[:3, 3] = eye
    return world_T_cam


def rotation_angle_deg(R) -> float:
    """Angle of a rotation matrix in degrees, in [0, 180].

    Computed as ``atan2(|axis·sin|, cos)`` from the skew and trace parts of ``R``, which stays
    accurate near 0° and 180°.

    Args:
        R: (3, 3) rotation matrix (a (4, 4) pose is not accepted).
    """
    rotation = as_finite_array(R, "R", (3, 3))
    sine_vector = 0.5 * np.array([rotation[2, 1] - rotation[1, 2],
                                  rotation[0, 2] - rotation[2, 0],
                                  rotation[1, 0] - rotation[0, 1]])
    cosine = 0.5 * (np.trace(rotation) - 1.0)
    return float(np.degrees(np.arctan2(np.linalg.norm(sine_vector), cosine)))


def pose_distance_parts(a_T_b) -> tuple[float, float]:
    """The two terms of the SimpleRecon/DeepVideoMVS pose distance.

    Args:
        a_T_b: (4, 4) relative rigid transform.
    Returns:
        (t_norm, rot_term): ``‖t‖`` in metres and ``2/3 · (3 − min(3, tr R))`` (unitless,
        0 for identity, 4/3 for 90° and 8/3 for 180°).
    """
    pose = validate_pose(a_T_b, name="a_T_b")
    t_norm = float(np.linalg.norm(pose[:3, 3]))
    rot_term = float(2.0 / 3.0 * (3.0 - min(3.0, np.trace(pose[:3, :3]))))
    return t_norm, rot_term


def pose_distance(a_T_b) -> float:
    """SimpleRecon/DeepVideoMVS pose distance ``sqrt(‖t‖² + 2/3 · (3 − min(3, tr R)))``.

    Args:
        a_T_b: (4, 4) relative rigid transform (e.g. from ``relative_pose``).
    Returns:
        distance (float, ≥ 0; mixes metres and a unitless rotation term, as in the papers).
    """
    t_norm, rot_term = pose_distance_parts(a_T_b)
    return float(np.sqrt(t_norm ** 2 + rot_term))
