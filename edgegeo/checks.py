"""Input checks shared across edgegeo: each returns the cleaned value or raises a ValueError
that names the argument and what is wrong with it."""
import numpy as np


def as_finite_array(value, name: str, shape: tuple | None = None) -> np.ndarray:
    """Return ``value`` as a float64 ndarray copy, raising ValueError on a bad shape or NaN/inf.

    ``shape`` may contain ``None`` for a free dimension; ``None`` overall skips the shape check.
    """
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(value).__name__}") from exc
    if shape is not None:
        matches = array.ndim == len(shape) and all(
            want is None or want == got for want, got in zip(shape, array.shape))
        if not matches:
            wanted = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {wanted}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf")
    return array


def positive_scalar(value, name: str) -> float:
    """Return ``value`` as a float, raising ValueError unless it is finite and > 0."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number, got {value!r}") from exc
    if not np.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return number


def positive_int(value, name: str) -> int:
    """Return ``value`` as an int, raising ValueError unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def image_size(hw, name: str) -> tuple[int, int]:
    """Return ``hw`` as ``(H, W)`` ints, raising ValueError unless it is two integers >= 1."""
    try:
        height, width = hw
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a pair (H, W), got {hw!r}") from exc
    return positive_int(height, f"{name}[0] (H)"), positive_int(width, f"{name}[1] (W)")
