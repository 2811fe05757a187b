"""What a run reports while it trains: scalars (``scalars.jsonl`` and TensorBoard) and image
grids (TensorBoard), written by rank 0 only.

TensorBoard is optional: without the ``tensorboard`` package the logger says so once and keeps
writing ``scalars.jsonl``.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

SCALARS_FILE = "scalars.jsonl"
TENSORBOARD_DIR = "tensorboard"


def image_grid(images: torch.Tensor, columns: int | None = None, padding: int = 2
               ) -> torch.Tensor:
    """Tile a batch of images into one picture, row by row, on a white background.

    Args:
        images: (N, C, H, W) float, C = 1 (repeated to grey RGB) or 3, values in [0, 1]
            (clamped).
        columns: images per row; default ``ceil(sqrt(N))``.
        padding: white pixels between and around the tiles.
    Returns:
        (3, rows·(H+padding)+padding, columns·(W+padding)+padding) float32 in [0, 1] on CPU.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.shape[0] == 0:
        raise ValueError(f"images must be (N, 1|3, H, W) with N >= 1, got {tuple(images.shape)}")
    n, _, h, w = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    if columns < 1 or padding < 0:
        raise ValueError(f"need columns >= 1 and padding >= 0, got {columns}, {padding}")
    rows = math.ceil(n / columns)
    tiles = images.detach().float().cpu().clamp(0.0, 1.0).expand(n, 3, h, w)
    grid = torch.ones(3, rows * (h + padding) + padding, columns * (w + padding) + padding)
    for i in range(n):
        top = padding + (i // columns) * (h + padding)
        left = padding + (i % columns) * (w + padding)
        grid[:, top:top + h, left:left + w] = tiles[i]
    return grid


class TrainLogger:
    """Scalar and image logging of one run into ``log_dir``; inert unless ``enabled``.

    Args:
        log_dir: the run's output folder (``scalars.jsonl`` and ``tensorboard/`` go there).
        enabled: True on rank 0, False elsewhere.
        start_step: steps already done when the run (re)starts; entries logged after that step
            by an interrupted invocation are discarded, so a resumed run's logs have no
            duplicates.
    """

    def __init__(self, log_dir: str | Path, *, enabled: bool, start_step: int = 0) -> None:
        self.enabled = enabled
        self.scalars_path = Path(log_dir) / SCALARS_FILE
        self._writer = None
        if not enabled:
            return
        self.scalars_path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_scalars_after(start_step)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            print("edgegeo train: tensorboard is not installed, so no TensorBoard logs or image "
                  f"grids; scalars still go to {self.scalars_path} "
                  "(pip install tensorboard to get them)", file=sys.stderr)
            return
        self._writer = SummaryWriter(str(Path(log_dir) / TENSORBOARD_DIR),
                                     purge_step=start_step + 1 if start_step else None)

    def _drop_scalars_after(self, step: int) -> None:
        if not self.scalars_path.is_file():
            return
        lines = self.scalars_path.read_text().splitlines()
        kept = [line for line in lines if line and json.loads(line)["step"] <= step]
        self.scalars_path.write_text("".join(line + "\n" for line in kept))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Record ``name → value`` at ``step``: one JSON line ``{"step": …, name: value, …}``
        and TensorBoard scalars."""
        if not self.enabled:
            return
        with open(self.scalars_path, "a") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        if self._writer is not None:
            for name, value in values.items():
                self._writer.add_scalar(name, value, step)

    def images(self, step: int, batches: dict[str, torch.Tensor]) -> None:
        """Record each ``name → (N, 1|3, H, W)`` batch in [0, 1] as one grid image at ``step``."""
        if not self.enabled or self._writer is None:
            return
        for name, images in batches.items():
            self._writer.add_image(name, image_grid(images), step)

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
