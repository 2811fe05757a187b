"""Smoke-trained model weights for the runtime and demo tests, trained once per test session
(``edgegeo train NAME --smoke``, no validation pass: a few seconds each) and shared by the test
modules that ask for them."""
from __future__ import annotations

from pathlib import Path

from edgegeo.cli import main


def smoke_weights(name: str, tmp_path_factory) -> Path:
    """``<session tmp>/smoke-<name>/<name>.safetensors`` (model card beside it) of a smoke run
    of recipe ``name`` (``stereo``, ``mvs``); trained on the first call of the session."""
    out = tmp_path_factory.getbasetemp() / f"smoke-{name}"
    weights = out / f"{name}.safetensors"
    if not weights.is_file():
        assert main(["train", name, "--smoke", "--set", "val_scenes=0", "--out", str(out)]) == 0
    return weights
