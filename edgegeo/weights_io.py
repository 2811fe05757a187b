"""Shipped weights: ``<name>.safetensors`` (floating tensors stored as fp16) beside a
``<name>.json`` model card saying how they were made.

The card holds what the trainer supplies (recipe, exact command, data, seed, wall time,
metrics, …) plus what this module records itself: the machine, the git commit of the code, the
file's SHA-256, the parameter count and the creation time.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
REQUIRED_CARD_KEYS = ("recipe", "command", "data", "seed", "wall_time_s", "metrics")


def save_weights(model: nn.Module | dict[str, torch.Tensor], name: str, card: dict[str, Any],
                 out_dir: str | os.PathLike = WEIGHTS_DIR) -> Path:
    """Write ``out_dir/<name>.safetensors`` (fp16) and ``out_dir/<name>.json`` (model card).

    Args:
        model: a module (its ``state_dict()``) or a state dict. Floating tensors are stored as
            float16, others (integer buffers) unchanged.
        name: weights name, lower-case letters, digits and dashes (``mono-depth``, ``stereo``…).
        card: model-card fields; must include ``recipe``, ``command`` (the exact command line),
            ``data``, ``seed``, ``wall_time_s`` (training wall-clock seconds) and ``metrics``
            (dict). ``machine``, ``commit``, ``created_utc``, ``sha256``, ``num_tensors``,
            ``weights``, ``format`` and (for a module) ``num_parameters`` are filled in here.
        out_dir: destination folder (created if missing); default the package's weights folder.
    Returns:
        Path of the ``.safetensors`` file.
    Raises:
        ValueError: bad name, missing card fields, or nothing to save.
    """
    if not NAME_PATTERN.match(name):
        raise ValueError(f"weights name {name!r} must be lower-case letters, digits and dashes")
    missing = [key for key in REQUIRED_CARD_KEYS if key not in card]
    if missing:
        raise ValueError(f"model card for {name!r} lacks {missing}")
    if not isinstance(card["metrics"], dict):
        raise ValueError(f"model card metrics must be a dict, got {type(card['metrics'])}")
    state = model.state_dict() if isinstance(model, nn.Module) else model
    if not state:
        raise ValueError(f"nothing to save for {name!r}: the state dict is empty")
    tensors = {key: _storable(value) for key, value in state.items()}

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = out_dir / f"{name}.safetensors"
    save_file(tensors, str(weights_path), metadata={"name": name, "format": "fp16"})
    if isinstance(model, nn.Module):
        card = {**card, "num_parameters": sum(p.numel() for p in model.parameters())}
    full_card = {
        "name": name,
        **card,
        "weights": weights_path.name,
        "format": "safetensors, floating tensors in float16",
        "num_tensors": len(tensors),
        "sha256": _file_sha256(weights_path),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "commit": git_commit(),
    }
    (out_dir / f"{name}.json").write_text(json.dumps(full_card, indent=2, default=str) + "\n")
    return weights_path


def load_weights(name_or_path: str | os.PathLike, weights_dir: str | os.PathLike = WEIGHTS_DIR
                 ) -> dict[str, torch.Tensor]:
    """Read weights as a float32 state dict (integer tensors keep their dtype).

    Args:
        name_or_path: a weights name (``mono-depth`` → ``weights_dir/mono-depth.safetensors``)
            or a path to a ``.safetensors`` file.
        weights_dir: where names are looked up; default the package's weights folder.
    Raises:
        FileNotFoundError: no such weights; the message lists the names available.
    """
    path = _weights_path(name_or_path, weights_dir)
    return {key: value.float() if value.is_floating_point() else value
            for key, value in load_file(str(path)).items()}


def load_model_card(name_or_path: str | os.PathLike,
                    weights_dir: str | os.PathLike = WEIGHTS_DIR, *,
                    missing_ok: bool = False) -> dict[str, Any]:
    """The model card (``.json`` beside the ``.safetensors``) of a weights name or file: the one
    reader of model cards.

    Args:
        name_or_path: a weights name (looked up in ``weights_dir``) or a ``.safetensors`` path.
        missing_ok: ``{}`` when there is no card (nor need the weights exist) instead of an
            error.
    Raises:
        FileNotFoundError: no such weights or no card beside them (unless ``missing_ok``).
    """
    path = _named_path(name_or_path, weights_dir) if missing_ok else \
        _weights_path(name_or_path, weights_dir)
    card_path = path.with_suffix(".json")
    if card_path.is_file():
        return json.loads(card_path.read_text())
    if missing_ok:
        return {}
    raise FileNotFoundError(f"weights {path} have no model card {card_path.name}")


def available_weights(weights_dir: str | os.PathLike = WEIGHTS_DIR) -> list[str]:
    """Names of the ``.safetensors`` files in ``weights_dir``, sorted."""
    folder = Path(weights_dir)
    return sorted(p.stem for p in folder.glob("*.safetensors")) if folder.is_dir() else []


def _named_path(name_or_path: str | os.PathLike, weights_dir: str | os.PathLike) -> Path:
    """``weights_dir/<name>.safetensors`` for a weights name, else the path itself."""
    text = os.fspath(name_or_path)
    if NAME_PATTERN.match(text) and not text.endswith(".safetensors"):
        return Path(weights_dir) / f"{text}.safetensors"
    return Path(text)


def _weights_path(name_or_path: str | os.PathLike, weights_dir: str | os.PathLike) -> Path:
    """:func:`_named_path`, which must exist."""
    path = _named_path(name_or_path, weights_dir)
    text = os.fspath(name_or_path)
    if not path.is_file():
        names = ", ".join(available_weights(weights_dir)) or "none"
        raise FileNotFoundError(f"no weights {text!r} (looked for {path}); available in "
                                f"{weights_dir}: {names}")
    return path


def _storable(tensor: torch.Tensor) -> torch.Tensor:
    """A contiguous CPU copy, floating point cast to float16 (copies break storage sharing,
    which safetensors refuses)."""
    dtype = torch.float16 if tensor.is_floating_point() else tensor.dtype
    return tensor.detach().to("cpu", dtype=dtype, copy=True).contiguous()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def machine_description() -> dict[str, Any]:
    """The machine this process runs on: OS, CPU, core count, Python, torch, CUDA GPUs."""
    description: dict[str, Any] = {
        "os": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        description["gpus"] = [torch.cuda.get_device_name(i)
                               for i in range(torch.cuda.device_count())]
        description["cuda"] = torch.version.cuda
    return description


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(repo_dir: str | os.PathLike = Path(__file__).resolve().parent.parent
               ) -> dict[str, Any] | None:
    """``{"sha": …, "dirty": bool}`` of the git checkout holding edgegeo, or None when the code
    is not in a git checkout (an installed wheel) or git is unavailable."""
    try:
        sha = subprocess.run(["git", "-C", str(repo_dir), "rev-parse", "HEAD"], check=True,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        # --no-optional-locks: read only, never touch the index another git process may hold.
        status = subprocess.run(["git", "--no-optional-locks", "-C", str(repo_dir), "status",
                                 "--porcelain", "--untracked-files=no"], check=True,
                                capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"sha": sha, "dirty": bool(status.strip())}


def ship_weights(run_weights: str | os.PathLike, name: str | None = None,
                 dest: str | os.PathLike | None = None) -> Path:
    """Copy a finished (non-smoke) run's ``.safetensors`` and model card into ``dest`` (default
    :data:`WEIGHTS_DIR`, what ``edgegeo.load`` reads) as ``<name>.*`` (default: the run's file
    name). Returns the shipped ``.safetensors`` path.

        python -c "from edgegeo.weights_io import ship_weights; \\
                   ship_weights('runs/mono-depth/mono-depth.safetensors')"
    """
    source = Path(run_weights)
    card = load_model_card(source)
    if card.get("smoke"):
        raise ValueError(f"{source} are smoke-test weights; ship a real run")
    target = Path(dest or WEIGHTS_DIR) / f"{name or source.stem}.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    card.update(weights=target.name, shipped_from=str(source))
    target.with_suffix(".json").write_text(json.dumps(card, indent=2, default=str) + "\n")
    return target
