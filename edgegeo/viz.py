"""Pictures for people: colour-mapped scalar maps (depth, disparity, errors), normals,
instance ids, labelled image grids, and PNG writing. All outputs are ``(H,W,3) uint8`` RGB.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

_COLORMAPS = ("turbo", "viridis", "magma", "inferno", "plasma", "jet", "gray")


def colorize(values, vmin: float | None = None, vmax: float | None = None, cmap: str = "turbo",
             invalid: float | None = 0) -> np.ndarray:
    """Colour-map a scalar image.

    Args:
        values: ``(H,W)`` numbers (depth in metres, disparity in pixels, errors, ...).
        vmin, vmax: value range mapped to the ends of the colour map; default: min and max of
            the valid values.
        cmap: one of turbo, viridis, magma, inferno, plasma, jet, gray.
        invalid: value that marks invalid pixels (drawn black); None = only NaN/inf are invalid.
    Returns:
        ``(H,W,3) uint8`` RGB.
    """
    import cv2

    values = np.asarray(values, np.float64)
    if values.ndim != 2:
        raise ValueError(f"colorize expects an (H,W) array, got shape {values.shape}")
    if cmap not in _COLORMAPS:
        raise ValueError(f"unknown colour map {cmap!r}; choose from {', '.join(_COLORMAPS)}")
    valid = np.isfinite(values)
    if invalid is not None:
        valid &= values != invalid
    if vmin is None or vmax is None:
        valid_values = values[valid]
        low, high = (valid_values.min(), valid_values.max()) if valid_values.size else (0.0, 1.0)
        vmin = low if vmin is None else vmin
        vmax = high if vmax is None else vmax
    if not vmax > vmin:
        vmax = vmin + 1e-6
    scaled = np.clip((np.where(valid, values, vmin) - vmin) / (vmax - vmin), 0, 1)
    gray = (scaled * 255 + 0.5).astype(np.uint8)
    if cmap == "gray":
        rgb = np.repeat(gray[..., None], 3, axis=2)
    else:
        code = getattr(cv2, f"COLORMAP_{cmap.upper()}")
        rgb = cv2.applyColorMap(gray, code)[..., ::-1]
    rgb = np.ascontiguousarray(rgb)
    rgb[~valid] = 0
    return rgb


def normals_to_rgb(normals) -> np.ndarray:
    """Map unit normals ``(H,W,3)`` (any frame) to colours ``(n + 1) / 2``; zero normals → black.

    Returns:
        ``(H,W,3) uint8`` RGB.
    """
    normals = np.asarray(normals, np.float64)
    if normals.ndim != 3 or normals.shape[2] != 3:
        raise ValueError(f"normals_to_rgb expects (H,W,3), got shape {normals.shape}")
    rgb = np.clip((normals + 1.0) * 0.5 * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgb[~np.any(normals != 0, axis=2)] = 0
    return rgb


def instance_to_rgb(instance) -> np.ndarray:
    """A distinct colour per instance id (same id → same colour everywhere); 0 → black.

    Args:
        instance: ``(H,W)`` integer ids.
    Returns:
        ``(H,W,3) uint8`` RGB.
    """
    import colorsys

    instance = np.asarray(instance)
    if instance.ndim != 2 or not np.issubdtype(instance.dtype, np.integer):
        raise ValueError(f"instance_to_rgb expects (H,W) integers, got {instance.shape} {instance.dtype}")
    ids, inverse = np.unique(instance, return_inverse=True)
    palette = np.array([colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.45 + 0.5 * ((i * 7) % 3) / 2,
                                            0.6 + 0.4 * ((i * 5) % 2)) for i in ids.tolist()])
    palette = (palette * 255 + 0.5).astype(np.uint8)
    palette[ids == 0] = 0
    return palette[inverse.reshape(instance.shape)]


def _as_rgb(image) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image_grid expects (H,W,3) or (H,W) uint8 images, got {image.shape} {image.dtype}")
    return image


def image_grid(images, labels=None, ncols: int = 4) -> np.ndarray:
    """Tile images into a grid with an optional text label on each.

    Args:
        images: list of ``(H,W,3)`` or ``(H,W)`` uint8 images; each is resized (nearest) to the
            size of the first.
        labels: optional list of strings, one per image (drawn top-left, white on a dark band).
        ncols: images per row (≥ 1).
    Returns:
        ``(rows·H, ncols·W, 3) uint8`` RGB; empty cells are black.
    """
    import cv2

    if not images:
        raise ValueError("image_grid needs at least one image")
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be an integer >= 1, got {ncols!r}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"got {len(labels)} labels for {len(images)} images")
    first = _as_rgb(images[0])
    height, width = first.shape[:2]
    ncols = min(int(ncols), len(images))
    nrows = -(-len(images) // ncols)
    grid = np.zeros((nrows * height, ncols * width, 3), np.uint8)
    scale = max(0.35, min(height, width) / 400.0)
    thickness = max(1, int(round(scale * 2)))
    for index, image in enumerate(images):
        tile = _as_rgb(image)
        if tile.shape[:2] != (height, width):
            tile = cv2.resize(tile, (width, height), interpolation=cv2.INTER_NEAREST)
        tile = np.array(tile, np.uint8, copy=True)  # labels are drawn on a copy, never on the caller's image
        if labels is not None and labels[index]:
            text = str(labels[index])
            (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
            band = tile[: text_h + baseline + 6, : text_w + 8]
            band[:] = (band * 0.35).astype(np.uint8)
            cv2.putText(tile, text, (4, text_h + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                        thickness, cv2.LINE_AA)
        row, col = divmod(index, ncols)
        grid[row * height:(row + 1) * height, col * width:(col + 1) * width] = tile
    return grid


def save_png(path, rgb) -> Path:
    """Write ``(H,W,3) uint8`` RGB (or ``(H,W)`` grey) to a PNG, creating parent folders.

    Returns:
        The path written.
    """
    import cv2

    path = Path(path)
    image = _as_rgb(rgb)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f"could not write PNG {path}")
    return path


def trajectory_plot(true_xy, tracked_xy, title: str, size: int = 480) -> np.ndarray:
    """Top view of two camera paths: ``true_xy`` (grey) and ``tracked_xy`` (orange), ``(N,2)``
    metres (world x, y; y up in the picture), with a 1 m scale bar and ``title``; returns
    ``(size, size, 3) uint8`` RGB."""
    import cv2

    true_xy, tracked_xy = np.asarray(true_xy, float), np.asarray(tracked_xy, float)
    both = np.concatenate([true_xy, tracked_xy])
    low, span = both.min(0), max(float(np.ptp(both, axis=0).max()), 0.1)
    margin = 30

    def pixels(points):
        scaled = (points - low) / span * (size - 2 * margin) + margin
        return np.round(np.stack([scaled[:, 0], size - scaled[:, 1]], 1)).astype(np.int32)

    image = np.full((size, size, 3), 255, np.uint8)
    cv2.polylines(image, [pixels(true_xy)], False, (150, 150, 150), 4, cv2.LINE_AA)
    cv2.polylines(image, [pixels(tracked_xy)], False, (230, 120, 20), 2, cv2.LINE_AA)
    cv2.putText(image, title, (10, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                cv2.LINE_AA)
    metre = int(round((size - 2 * margin) / span))
    if metre < size - 40:
        cv2.line(image, (10, size - 12), (10 + metre, size - 12), (0, 0, 0), 2)
        cv2.putText(image, "1 m", (14 + metre, size - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return image


def line_plot(x, series: dict, title: str, width: int = 640, height: int = 360) -> np.ndarray:
    """Curves ``{label: (N,) values}`` against ``x`` ``(N,)``, each on its own vertical scale
    (min–max written beside its label), with ``title``; ``(height, width, 3) uint8`` RGB."""
    import cv2

    colours = [(230, 120, 20), (40, 120, 220), (40, 170, 60), (200, 40, 40)]
    image = np.full((height, width, 3), 255, np.uint8)
    x = np.asarray(x, float)
    left, right, top, bottom = 50, width - 20, 40, height - 30
    span_x = max(float(np.ptp(x)), 1e-9) if len(x) else 1.0
    cv2.rectangle(image, (left, top), (right, bottom), (200, 200, 200), 1)
    cv2.putText(image, title, (10, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)
    for index, (label, values) in enumerate(series.items()):
        values = np.asarray(values, float)
        colour = colours[index % len(colours)]
        low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
        span = max(high - low, 1e-9)
        px = left + (x - x.min()) / span_x * (right - left)
        py = bottom - (values - low) / span * (bottom - top)
        points = np.round(np.stack([px, py], 1)).astype(np.int32)
        if len(points) > 1:
            cv2.polylines(image, [points], False, colour, 2, cv2.LINE_AA)
        cv2.putText(image, f"{label} {low:.4g}-{high:.4g}", (left + 5 + 220 * index, top - 8),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    cv2.putText(image, f"{x.min():.0f}" if len(x) else "0", (left, height - 10),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, f"{x.max():.0f} frames" if len(x) else "", (right - 90, height - 10),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return image
