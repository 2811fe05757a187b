"""Network-like objects over exported artefacts: what the model predictors call.

A predictor (``MonoDepthPredictor``, ``JBUPredictor``) needs ``network(*tensors)`` → tensor,
``.to(device)``, ``.eval()`` and the network's attributes (``patch_size``; ``scale`` and
``upsample`` for ``jbu``). :class:`RuntimeNetwork` provides them over any *runner* — an
``OrtRunner`` or a ``TensorRTRunner`` — with ``run({name: array}) → [arrays]`` (and, for device
buffers, ``run_torch({name: tensor}) → [tensors]``), ``input_names``, ``output_names`` and
``attributes`` (read from the graph's metadata).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


class RuntimeNetwork:
    """A runner behind the calling convention of the torch network it was exported from.

    Args:
        runner: ``OrtRunner`` / ``TensorRTRunner``.
        name: model name (for messages).

    Every entry of ``runner.attributes`` becomes an attribute (``patch_size`` …). Calls take
    tensors in the order of the graph inputs (float32, batch 1) and return the first output as
    a float32 tensor on the device given to :meth:`to` (CPU by default).
    """

    def __init__(self, runner, name: str = ""):
        self.runner = runner
        self.name = name or runner.metadata.get("edgegeo.model", "")
        self.precision = runner.metadata.get("edgegeo.precision", "")
        self.device = torch.device("cpu")
        for key, value in runner.attributes.items():
            setattr(self, key, value)

    def to(self, device: str | torch.device) -> RuntimeNetwork:
        """Outputs go to ``device``; inputs may be on any device (copied as needed)."""
        self.device = torch.device(device)
        return self

    def eval(self) -> RuntimeNetwork:
        return self

    def run_all(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        """All outputs, in graph order."""
        names = self.runner.input_names
        if len(tensors) != len(names):
            raise ValueError(f"{self.name}: expected {len(names)} inputs ({', '.join(names)}), "
                             f"got {len(tensors)}")
        for name, tensor in zip(names, tensors):
            if tensor.dim() != 4 or tensor.shape[0] != 1:
                raise ValueError(f"{self.name}: input {name} must be (1, C, H, W), got "
                                 f"{tuple(tensor.shape)} (exported graphs have batch 1)")
        if hasattr(self.runner, "run_torch"):
            outputs = self.runner.run_torch(dict(zip(names, tensors)))
        else:
            feeds = {name: t.detach().to("cpu", torch.float32).numpy()
                     for name, t in zip(names, tensors)}
            outputs = [torch.from_numpy(np.asarray(out, dtype=np.float32))
                       for out in self.runner.run(feeds)]
        return [out.to(self.device) for out in outputs]

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.run_all(*tensors)[0]

    forward = __call__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, {self.precision}, {self.runner!r})"


class JBURuntimeNetwork(RuntimeNetwork):
    """:class:`RuntimeNetwork` with ``DepthJBU``'s ``scale`` and ``upsample`` (what
    ``JBUPredictor`` calls). The graph has a fixed number of ×2 stages."""

    scale: int
    num_stages: int

    def upsample(self, depth: torch.Tensor, image: torch.Tensor,
                 num_stages: int | None = None) -> torch.Tensor:
        """``(1, 1, h, w)`` metres + ``(1, 3, h·2ⁿ, w·2ⁿ)`` RGB → ``(1, 1, h·2ⁿ, w·2ⁿ)``.

        Raises:
            ValueError: ``num_stages`` other than the graph's (the torch backend repeats or
                skips stages; an exported graph cannot).
        """
        if num_stages is not None and num_stages != self.num_stages:
            raise ValueError(f"the exported {self.name} graph upsamples x{self.scale} "
                             f"({self.num_stages} stages); x{2 ** num_stages} needs the torch "
                             f"backend or an image {self.scale}x the depth size")
        return self(depth, image)


RUNTIME_CLASSES: dict[str, type] = {"RuntimeNetwork": RuntimeNetwork,
                                    "JBURuntimeNetwork": JBURuntimeNetwork}


def wrap(runner, runtime_class: str = "RuntimeNetwork", name: str = "") -> Any:
    """The network-like object of ``runtime_class`` (an ``ExportSpec.runtime_class``)."""
    return RUNTIME_CLASSES[runtime_class](runner, name)
