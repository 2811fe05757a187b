"""Pinhole intrinsics ``K`` (3×3 float64, pixels) and how they change under resize and crop.

Pixel convention (see docs/conventions): the centre of pixel (0, 0) is at (0, 0), so an image
of width W has its optical centre near ``cx = (W - 1) / 2``.
"""
import numpy as np

from edgegeo.checks import as_finite_array, image_size, positive_int, positive_scalar


def make_K(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Build a zero-skew intrinsic matrix.

    Args:
        fx, fy: focal lengths in pixels, > 0.
        cx, cy: principal point in pixels (pixel-centre convention).
    Returns:
        K: (3, 3) float64 ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``.
    """
    return validate_K([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def K_from_fov(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Intrinsics of a W×H camera with square pixels and horizontal field of view ``hfov_deg``.

    The field of view spans the full image width (W pixels, edge to edge), so
    ``fx = fy = (W / 2) / tan(hfov / 2)``; the principal point is the image centre
    ``((W - 1) / 2, (H - 1) / 2)``.

    Returns:
        K: (3, 3) float64.
    """
    width = positive_int(width, "width")
    height = positive_int(height, "height")
    hfov = float(hfov_deg)
    if not 0.0 < hfov < 180.0:
        raise ValueError(f"hfov_deg must be in (0, 180), got {hfov_deg!r}")
    focal = 0.5 * width / np.tan(np.deg2rad(hfov) / 2.0)
    return make_K(focal, focal, (width - 1) / 2.0, (height - 1) / 2.0)


def validate_K(K, name: str = "K") -> np.ndarray:
    """Check an intrinsic matrix and return a float64 copy.

    Requires shape (3, 3), finite entries, ``fx = K[0,0] > 0``, ``fy = K[1,1] > 0``,
    ``K[1,0] == 0`` and bottom row ``[0, 0, 1]``. Skew ``K[0,1]`` is accepted.

    Returns:
        (3, 3) float64 copy of ``K``.
    Raises:
        ValueError naming ``name`` and the problem.
    """
    matrix = as_finite_array(K, name, (3, 3))
    if matrix[0, 0] <= 0 or matrix[1, 1] <= 0:
        raise ValueError(f"{name}: focal lengths must be > 0, got fx={matrix[0, 0]}, "
                         f"fy={matrix[1, 1]}")
    if matrix[1, 0] != 0 or not np.array_equal(matrix[2], [0.0, 0.0, 1.0]):
        raise ValueError(f"{name}: must be upper triangular with bottom row [0, 0, 1], "
                         f"got K[1,0]={matrix[1, 0]}, bottom row {matrix[2].tolist()}")
    return matrix


def scale_K(K, sx: float, sy: float) -> np.ndarray:
    """Intrinsics after resizing the image by factors ``sx`` (width) and ``sy`` (height).

    A pixel coordinate maps as ``u' = (u + 0.5) * sx - 0.5`` (pixel edges scale, pixel
    centres sit half a pixel inside), hence ``fx' = fx * sx``, ``cx' = (cx + 0.5) * sx - 0.5``
    (likewise for y; skew scales with ``sx``).

    Args:
        K: (3, 3) intrinsics of the original image.
        sx, sy: new_width / old_width and new_height / old_height, > 0.
    Returns:
        (3, 3) float64 intrinsics of the resized image.
    """
    matrix = validate_K(K)
    sx = positive_scalar(sx, "sx")
    sy = positive_scalar(sy, "sy")
    pixel_map = np.array([[sx, 0.0, 0.5 * sx - 0.5],
                          [0.0, sy, 0.5 * sy - 0.5],
                          [0.0, 0.0, 1.0]])
    return pixel_map @ matrix


def resize_K(K, from_hw: tuple[int, int], to_hw: tuple[int, int]) -> np.ndarray:
    """Intrinsics after resizing an image of size ``from_hw = (H, W)`` to ``to_hw = (H', W')``.

    Equivalent to ``scale_K(K, W'/W, H'/H)``. Returns (3, 3) float64.
    """
    from_h, from_w = image_size(from_hw, "from_hw")
    to_h, to_w = image_size(to_hw, "to_hw")
    return scale_K(K, to_w / from_w, to_h / from_h)


def crop_K(K, x0: float, y0: float) -> np.ndarray:
    """Intrinsics of the crop whose top-left pixel is (x0, y0) in the original image.

    Pixel (x0, y0) becomes (0, 0): ``cx' = cx - x0``, ``cy' = cy - y0``. Returns (3, 3) float64.
    """
    matrix = validate_K(K)
    offset = as_finite_array([x0, y0], "crop offset (x0, y0)", (2,))
    matrix[0, 2] -= offset[0]
    matrix[1, 2] -= offset[1]
    return matrix
