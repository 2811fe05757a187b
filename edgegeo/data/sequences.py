"""Open any posed RGB-D sequence folder edgegeo reads, by its layout."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgegeo.data.frame import Frame


def open_posed_sequence(path: str | Path, **options) -> Sequence[Frame]:
    """An indexable sequence of posed :class:`Frame` objects from ``path``.

    Recognised layouts: a synthetic shard (``meta.npz``, from ``edgegeo data render``), a TUM
    RGB-D folder (``rgb.txt``) or a ScanNet-style export (``color/``, ``intrinsic/``).
    ``options`` go to the TUM / ScanNet readers.

    Raises:
        FileNotFoundError if ``path`` is not a folder; ValueError if the layout is unknown.
    """
    from edgegeo.data.scannet import open_sequence
    from edgegeo.data.synthetic import read_shard

    path = Path(path)
    if (path / "meta.npz").is_file():
        return read_shard(path)
    return open_sequence(path, **options)
