"""Where exported artefacts live, and how they are written.

- :func:`cache_dir`: the artefact cache, ``$EDGEGEO_CACHE`` if set, else ``~/.cache/edgegeo``
  (ONNX files under ``onnx/``, TensorRT engines under ``engines/``, timing caches under
  ``timing/``).
- :func:`atomic_output`: every file of the export layer is written to a temporary name in its
  destination folder and renamed into place only when complete, so an interrupted or failed
  export never leaves a partial ``.onnx`` / ``.engine`` / ``.json`` behind (``os.replace`` is
  atomic within one filesystem).
- :func:`file_sha256` / :func:`bytes_sha256`: the content hashes that reports, sidecars and
  cache keys carry.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ENV_VAR = "EDGEGEO_CACHE"
DEFAULT_CACHE = Path("~/.cache/edgegeo")


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The artefact cache folder (created if missing).

    Args:
        override: a folder to use instead; default ``$EDGEGEO_CACHE``, else ``~/.cache/edgegeo``.
    Returns:
        The absolute folder path.
    """
    chosen = override if override is not None else os.environ.get(ENV_VAR) or DEFAULT_CACHE
    path = Path(chosen).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on normal exit rename it to ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was (absent, or
    the previous complete file). The parent folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial",
                                         dir=path.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        yield temp
        if not temp.is_file() or temp.stat().st_size == 0:
            raise RuntimeError(f"writing {path} produced no data")
        os.chmod(temp, 0o666 & ~_umask())          # mkstemp makes 0600; use the usual mode
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_output`."""
    with atomic_output(path) as temp:
        temp.write_bytes(data)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, content: dict[str, Any]) -> Path:
    """Write ``content`` as indented JSON to ``path`` through :func:`atomic_output`."""
    return write_bytes_atomic(path, (json.dumps(content, indent=2, sort_keys=False) + "\n")
                              .encode())


def bytes_sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
