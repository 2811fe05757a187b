"""Parity of an exported graph against the torch network it came from.

Relative error, as used throughout the export layer and its reports:

    rel = max |runtime − torch| / max |torch|          (over every element of the output)

i.e. the worst absolute deviation in units of the output's own range. Contracts (issue 7):
fp32 ≤ 1e-4, fp16 ≤ 1e-2. int8 is judged on the model's task metric instead (AbsRel of the
mono-depth disparity after scale-and-shift alignment; AbsRel of the upsampled depth for
``jbu``; stereo end-point error against GT disparity; AbsRel of mvs depth), as the relative
loss ``(metric_int8 − metric_torch) / metric_torch``.

Inputs (``sources``), frames of the model's kind (``frames``): ``"motorcycle"`` (the real
Middlebury image with its depth, or the pair with its disparity), ``"synthetic:N"`` (N frames of
held-out synthetic scenes), ``"random:N"`` (noise; cheap, for tests).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

TOLERANCES = {"fp32": 1e-4, "fp16": 1e-2}
MASK_TOLERANCE = 1e-3
"""For outputs where 0 means "no value" (``ExportSpec.zero_is_no_value``: mvs depth below its
confidence threshold): the largest fraction of pixels that may have a value in one graph and
none in the other — a confidence within rounding of the threshold flips either way."""


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    """``max |got − expected| / max |expected|`` (see the module docstring).

    Raises:
        ValueError: different shapes, or non-finite values in ``got``.
    """
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if got.shape != expected.shape:
        raise ValueError(f"output shape {got.shape} differs from torch's {expected.shape}")
    if not np.all(np.isfinite(got)):
        raise ValueError("the runtime output holds NaN or inf")
    scale = max(float(np.abs(expected).max()), 1e-12)
    return float(np.abs(got - expected).max() / scale)


def parity_error(got: np.ndarray, expected: np.ndarray, zero_is_no_value: bool = False
                 ) -> tuple[float, float]:
    """``(relative error, mask disagreement)``. With ``zero_is_no_value`` the relative error
    is taken over the elements where both outputs have a value (≠ 0) and the disagreement is
    the fraction of elements where exactly one has; otherwise :func:`relative_error` and 0."""
    if not zero_is_no_value:
        return relative_error(got, expected), 0.0
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    both = (got != 0) & (expected != 0)
    disagreement = float(((got != 0) != (expected != 0)).mean()) if got.shape == expected.shape \
        else 1.0
    return relative_error(np.where(both, got, 0.0), np.where(both, expected, 0.0)), disagreement


def parity_frames(spec, sources: Sequence[str], size: tuple[int, int],
                  attributes: dict[str, Any]) -> list[tuple[str, dict[str, np.ndarray], Any]]:
    """``(label, inputs, ground truth or None)`` cases at output size ``size`` from frames of
    the spec's kind (``attributes``: the network's, see ``ExportSpec.frame_inputs``).

    Raises:
        ValueError: an unknown source, or ``motorcycle`` for a kind without real frames.
    """
    from .calibration import heldout_frames
    from .frames import random_frame, real_frames

    cases = []
    for source in sources:
        if source == "motorcycle":
            for label, frame in real_frames(spec.frame_kind):
                cases.append((label, *spec.frame_inputs(frame, size, attributes)))
        elif source.startswith("synthetic:"):
            frames = heldout_frames(spec.frame_kind, int(source.split(":", 1)[1]), size)
            for index, frame in enumerate(frames):
                cases.append((f"synthetic: held-out frame {index}",
                              *spec.frame_inputs(frame, size, attributes)))
        elif source.startswith("random:"):
            for index in range(int(source.split(":", 1)[1])):
                frame = random_frame(spec.frame_kind, size, seed=index)
                cases.append((f"random: seed {index}",
                               spec.frame_inputs(frame, size, attributes)[0], None))
        else:
            raise ValueError(f"unknown parity source {source!r}; use motorcycle, synthetic:N "
                             f"or random:N")
    return cases


@torch.no_grad()
def torch_output(network, feeds: dict[str, np.ndarray], spec) -> np.ndarray:
    """The torch graph's (first) output (``spec.torch_graph(network)``) for numpy ``feeds``
    (CPU, float32)."""
    tensors = [torch.from_numpy(feeds[name]) for name in spec.input_names]
    return first_output(spec.torch_graph(network)(*tensors)).float().cpu().numpy()


def first_output(output):
    """The output parity and metrics compare: a graph module's tensor, or the first of its
    tuple of outputs."""
    return output[0] if isinstance(output, (tuple, list)) else output


def graph_output(runtime, feeds: dict[str, np.ndarray], spec) -> np.ndarray:
    """The first output of a ``RuntimeNetwork``'s graph for numpy ``feeds`` (its ``run_all``:
    the raw graph output, not the predictor-facing call)."""
    return runtime.run_all(*[torch.from_numpy(feeds[n]) for n in spec.input_names])[0].numpy()


def check_parity(network, runtime, spec, cases, tolerance: float | None) -> list[dict[str, Any]]:
    """Compare ``runtime`` (a ``RuntimeNetwork``) with the torch ``network`` on ``cases``.

    Returns:
        One dict per case: ``input``, ``size``, ``max_abs_error``, ``rel_error`` (see module
        docstring; over the pixels with a value in both for a ``zero_is_no_value`` spec),
        ``mask_disagreement``, ``tolerance`` and ``passed`` (None when there is no tolerance).
    """
    rows = []
    for label, feeds, _ in cases:
        expected = torch_output(network, feeds, spec)
        got = graph_output(runtime, feeds, spec)
        rel, disagreement = parity_error(got, expected, spec.zero_is_no_value)
        rows.append({"input": label, "size": list(expected.shape[-2:]),
                     "max_abs_error": float(np.abs(got - expected).max()), "rel_error": rel,
                     "mask_disagreement": disagreement, "tolerance": tolerance,
                     "passed": None if tolerance is None else
                     bool(rel <= tolerance and disagreement <= MASK_TOLERANCE)})
    return rows


def paired_metrics(spec, expected: np.ndarray, got: np.ndarray, gt: Any
                   ) -> tuple[dict[str, float], dict[str, float]]:
    """``spec.metric`` of torch's ``expected`` and the runtime's ``got`` (output channel 0,
    ``(H, W)``) over the same pixels: for a ``zero_is_no_value`` spec (mvs depth masked by its
    confidence) each keeps only the pixels where both have a value, so that a mask moving with
    int8's confidences does not change which pixels the errors are averaged over."""
    if spec.zero_is_no_value:
        both = (expected != 0) & (got != 0)
        expected, got = np.where(both, expected, 0.0), np.where(both, got, 0.0)
    return spec.metric(expected, gt), spec.metric(got, gt)


def task_metric(network, runtime, spec, cases) -> dict[str, Any]:
    """The task metric of torch and of the runtime on the cases with ground truth.

    Returns:
        ``{"metric", "torch", "runtime", "relative_loss", "per_input": [...]}``; the headline
        metric is the first key of ``spec.metric`` (lower is better), averaged over inputs.
    """
    per_input, torch_values, runtime_values, key = [], [], [], None
    for label, feeds, gt in cases:
        if gt is None:
            continue
        expected = torch_output(network, feeds, spec)[0, 0]
        got = graph_output(runtime, feeds, spec)[0, 0]
        reference, measured = paired_metrics(spec, expected, got, gt)
        key = key or next(iter(reference))
        torch_values.append(reference[key])
        runtime_values.append(measured[key])
        per_input.append({"input": label, "torch": reference, "runtime": measured})
    if not per_input:
        return {}
    reference, measured = float(np.mean(torch_values)), float(np.mean(runtime_values))
    return {"metric": key, "torch": reference, "runtime": measured,
            "relative_loss": (measured - reference) / max(abs(reference), 1e-12),
            "per_input": per_input}
