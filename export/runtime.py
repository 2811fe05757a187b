"""Network-like objects over exported artefacts: what the model predictors call.

A predictor (``MonoDepthPredictor``, ``JBUPredictor``, ``StereoPredictor``, ``MVSPredictor``)
needs ``network(*tensors)`` → tensor (a dict for ``mvs``), ``.to(device)``, ``.eval()`` and
the network's attributes (``patch_size``; ``scale`` and ``upsample`` for ``jbu``; ``config``
for ``mvs``). :class:`RuntimeNetwork` provides them over any *runner* — an
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
    tensors in the order of the graph inputs (float32; any batch size, see :meth:`run_all`)
    and return the first output as a float32 tensor on the device given to :meth:`to` (CPU
    by default).
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
        """All outputs, in graph order, for inputs with one batch size ``N`` (dim 0).

        The graphs have batch 1: ``N > 1`` runs them once per item and concatenates the
        outputs along dim 0 (``StereoPredictor`` sends batches of tiles).

        Raises:
            ValueError: wrong number of inputs, or inputs of different batch sizes.
        """
        names = self.runner.input_names
        if len(tensors) != len(names):
            raise ValueError(f"{self.name}: expected {len(names)} inputs ({', '.join(names)}), "
                             f"got {len(tensors)}")
        batches = {int(tensor.shape[0]) if tensor.dim() else 0 for tensor in tensors}
        if len(batches) != 1 or 0 in batches:
            raise ValueError(f"{self.name}: inputs {', '.join(names)} must share one batch "
                             f"size (dim 0), got shapes {[tuple(t.shape) for t in tensors]}")
        if batches != {1}:
            per_item = [self.run_all(*(t[i:i + 1] for t in tensors))
                        for i in range(tensors[0].shape[0])]
            return [torch.cat(outputs) for outputs in zip(*per_item)]
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


class MVSRuntimeNetwork(RuntimeNetwork):
    """:class:`RuntimeNetwork` behind ``MVSNet``'s call and ``config`` (what ``MVSPredictor``
    uses). The graph has a fixed size: ``config.image_size`` is that size, so the predictor
    resizes to it by default.

    ``net(image, src_images, ref_K, src_K, src_T_ref, source_valid=None, hint_depth=None)``:
    ``(1, 3, H, W)``, ``(1, S, 3, H, W)`` RGB in [0, 1], ``(1, 3, 3)``, ``(1, S, 3, 3)``
    intrinsics (pixels), ``(1, S, 4, 4)`` reference → source transforms (metres), optional
    ``(1, S)`` bool (False = padding), for a hinted graph (``config.hint``) optional ``(1, 1,
    H, W)`` hint depth in metres (None: zeros, no hint) → ``{"depth": [(1, 1, H, W)
    metres]}`` (the full-resolution map only) and, where the graph has it (``planes``
    decoder), ``"full_confidence"`` ``(1, 1, H, W)`` in [0, 1].
    """

    config: Any
    input_size: list[int]

    def __init__(self, runner, name: str = ""):
        super().__init__(runner, name)
        from edgegeo.models.mvs import MVSNetConfig

        self.config = MVSNetConfig.from_dict({**self.config,
                                              "image_size": tuple(self.input_size)})

    def __call__(self, image: torch.Tensor, src_images: torch.Tensor, ref_K: torch.Tensor,
                 src_K: torch.Tensor, src_T_ref: torch.Tensor,
                 source_valid: torch.Tensor | None = None,
                 hint_depth: torch.Tensor | None = None) -> dict[str, list[torch.Tensor]]:
        """See the class docstring.

        Raises:
            ValueError: an image size other than the graph's.
        """
        if tuple(image.shape[-2:]) != tuple(self.config.image_size):
            height, width = self.config.image_size
            raise ValueError(f"the exported {self.name} graph takes {height}x{width} images, "
                             f"got {tuple(image.shape[-2:])}: resize to it (MVSPredictor's "
                             f"resolution) or export at that size")
        if source_valid is None:
            source_valid = torch.ones(src_images.shape[:2])
        hint = ()
        if self.config.hint:
            hint = (image.new_zeros(image.shape[0], 1, *image.shape[-2:])
                    if hint_depth is None else hint_depth.to(torch.float32),)
        elif hint_depth is not None:
            raise ValueError(f"the exported {self.name} graph reads no depth hint")
        outputs = self.run_all(image, src_images, ref_K, src_K, src_T_ref,
                               source_valid.to(torch.float32), *hint)
        if len(outputs) > 1:
            return {"depth": [outputs[0]], "full_confidence": outputs[1]}
        return {"depth": [outputs[0]]}

    forward = __call__


RUNTIME_CLASSES: dict[str, type] = {"RuntimeNetwork": RuntimeNetwork,
                                    "JBURuntimeNetwork": JBURuntimeNetwork,
                                    "MVSRuntimeNetwork": MVSRuntimeNetwork}


def wrap(runner, runtime_class: str = "RuntimeNetwork", name: str = "") -> Any:
    """The network-like object of ``runtime_class`` (an ``ExportSpec.runtime_class``)."""
    return RUNTIME_CLASSES[runtime_class](runner, name)
