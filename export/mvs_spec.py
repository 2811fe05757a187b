"""What the ``mvs`` entry of :data:`~.specs.EXPORT_SPECS` needs about ``MVSNet``.

The whole network is one graph (:class:`MVSGraph`): matching encoder, plane sweep, cost volume
and U-Net (and the ½-resolution local volume). No ``GridSample``: ONNX Runtime's CPU kernel
took 73 % of the graph's time. The correlation volumes export as one ``Gather`` of each
sample's 2×2 source neighbourhood and one batched ``MatMul`` per reference pixel against its
feature (:func:`~edgegeo.geometry.warp.sample_bilinear_dot`; the whole graph 279 → 148 ms on
ORT, 2 cores, against per-corner row gathers); the metadata volume samples with row gathers
(:func:`~edgegeo.geometry.warp.sample_bilinear`). Inputs, batch 1, ``S = num_sources``:

- ``image`` ``(1, 3, H, W)``, ``src_images`` ``(1, S, 3, H, W)``: RGB in [0, 1];
- ``K`` ``(1, 3, 3)``, ``src_K`` ``(1, S, 3, 3)``: intrinsics of those images (pixels);
- ``src_T_ref`` ``(1, S, 4, 4)``: reference camera → source camera (metres);
- ``source_valid`` ``(1, S)``: 1 for a real source, 0 for padding;
- a hinted network (``config.hint``) also ``hint_depth`` ``(1, 1, H, W)``: the fused map
  rendered at the reference pose, metres, 0 = none;

outputs: ``depth`` ``(1, 1, H, W)`` metres (the full-resolution map of the four ``MVSNet``
predicts) and, for the ``planes`` decoder, ``confidence`` ``(1, 1, H, W)`` in [0, 1] (the
volume's largest plane probability, upsampled: what ``MVSPredictor``'s planar prior reads).

**Fixed size.** The graph is exported at one size (default the model's working size
``config.image_size``, 192×256 for the ``small`` config: what ``MVSPredictor`` resizes to): the
traced geometry bakes H and W in — ``torch.meshgrid`` in ``geometry.warp.pixel_rays`` and the
grid normalisation constants of ``pixel_to_grid`` become constants, and so do the shapes after
``unflatten`` in ``MVSNet.forward`` — so a graph traced at one size fails at another.

**fp16** keeps the geometry (rays, projections, grid coordinates, pose terms, metadata
assembly: every node outside the CNNs and the metadata MLP) in fp32 — fp16's 11 significant
bits are too few for projections — as ``MVSNet`` itself does under mixed precision
(``geometry_dtype``).

**int8** quantizes the CNNs (every ``Conv``) and the metadata MLP's hidden layers. Its first
layer stays float: it reads the raw metadata vector, whose channels mix features and their dot
products, depths in metres, unit rays and 0/1 masks — ranges one per-tensor int8 scale cannot
all resolve; the other ``MatMul`` s are geometry. The sampled features are the float outputs of
int8 convolutions, so the sampling gathers run in float.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .arrays import resize_nearest, rgb_tensor

# Node name prefixes of the learned parts (the exporter names nodes by module path; the
# network is MVSGraph.mvs).
LEARNED_SCOPES = ("/mvs/matching_encoder/", "/mvs/network/", "/mvs/cost_volume/mlp/",
                  "/mvs/local_refine/", "/mvs/full_refine/")
RESHAPES = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")
# Metres: the default TSDF fusion's depth range (``FusionConfig.max_depth``), so the hint a
# hinted network sees in calibration and checks covers what a fused map would.
HINT_RANGE_M = 3.0


class MVSGraph(nn.Module):
    """``MVSNet`` as a graph: tensor inputs only (see the module docstring).

    ``forward(image, src_images, K, src_K, src_T_ref, source_valid[, hint_depth])`` with
    ``source_valid`` ``(1, S)`` float32 (> 0.5 = real source) and, for a hinted network only,
    ``hint_depth`` ``(1, 1, H, W)`` metres → ``(1, 1, H, W)`` depth in metres, and for the
    ``planes`` decoder also ``(1, 1, H, W)`` confidence (a tuple).
    """

    def __init__(self, network: nn.Module):
        super().__init__()
        self.mvs = network

    def forward(self, image: torch.Tensor, src_images: torch.Tensor, K: torch.Tensor,
                src_K: torch.Tensor, src_T_ref: torch.Tensor, source_valid: torch.Tensor,
                *hint_depth: torch.Tensor) -> torch.Tensor:
        outputs = self.mvs(image, src_images, K, src_K, src_T_ref, source_valid > 0.5,
                           *hint_depth)
        if "full_confidence" in outputs:
            return outputs["depth"][0], outputs["full_confidence"]
        return outputs["depth"][0]


def mvs_frame_inputs(frame, size: tuple[int, int], attributes: dict[str, Any]
                     ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """A ``frames.PosedFrames`` → the graph inputs at ``size`` and the reference depth (m,
    0 = none; None without depth), as ``MVSPredictor`` makes them: the ``num_sources``
    candidates with the lowest DeepVideoMVS penalty, intrinsics rescaled with the images,
    missing sources padded (zero image, the reference K, identity pose, ``source_valid`` 0).
    A hinted network's ``hint_depth`` is the reference's depth up to :data:`HINT_RANGE_M` (a
    stand-in for the fused map: the same values and layout, zeros without depth).
    """
    from edgegeo.geometry.intrinsics import resize_K
    from edgegeo.geometry.poses import relative_pose
    from edgegeo.models.mvs.keyframes import select_sources

    if "num_sources" not in attributes:
        raise ValueError("mvs inputs need the network attribute num_sources "
                         "(ExportSpec.attributes of the network)")
    count = int(attributes["num_sources"])
    reference = frame.reference
    chosen = select_sources(reference.world_T_cam,
                            [c.world_T_cam for c in frame.candidates], count)
    sources = [frame.candidates[i] for i in chosen]
    K = resize_K(reference.K, reference.rgb.shape[:2], size)
    images = [rgb_tensor(s.rgb, size)[0] for s in sources]
    Ks = [resize_K(s.K, s.rgb.shape[:2], size) for s in sources]
    poses = [relative_pose(s.world_T_cam, reference.world_T_cam) for s in sources]
    pad = count - len(sources)
    images += [np.zeros((3, *size), np.float32)] * pad
    Ks += [K] * pad
    poses += [np.eye(4)] * pad
    valid = [1.0] * len(sources) + [0.0] * pad

    def batch(values) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(values)[None], dtype=np.float32)

    gt = None if reference.depth is None else resize_nearest(reference.depth, size)
    inputs = {"image": rgb_tensor(reference.rgb, size), "src_images": batch(np.stack(images)),
              "K": batch(K), "src_K": batch(np.stack(Ks)), "src_T_ref": batch(np.stack(poses)),
              "source_valid": batch(valid)}
    if attributes.get("config", {}).get("hint"):
        hint = np.zeros(size, np.float32) if gt is None else np.where(
            (gt > 0) & (gt <= HINT_RANGE_M), gt, 0.0)
        inputs["hint_depth"] = batch(hint[None])
    return inputs, gt


def mvs_metric(depth: np.ndarray, gt_depth: np.ndarray) -> dict[str, float]:
    """AbsRel (the headline) and RMSE (m) of metric depth against the ground truth up to the
    evaluation range of ``edgegeo bench mvs``."""
    from edgegeo.metrics.depth import depth_metrics
    from edgegeo.models.mvs.config import EVAL_MAX_DEPTH

    metrics = depth_metrics(depth, gt_depth, max_depth=EVAL_MAX_DEPTH)
    return {"abs_rel": metrics["abs_rel"], "rmse": metrics["rmse"]}


def mvs_attributes(network) -> dict[str, Any]:
    """``config`` (what ``MVSPredictor`` reads: ``num_sources``, ``image_size``) and
    ``num_sources`` (the size of the graph's source axis)."""
    return {"config": network.config.to_dict(), "num_sources": int(network.config.num_sources)}


def mvs_working_size(network) -> tuple[int, int]:
    """The resolution ``MVSPredictor`` resizes to by default: ``config.image_size``."""
    return tuple(int(v) for v in network.config.image_size)


def geometry_nodes(model) -> list[str]:
    """Nodes outside the CNNs and the metadata MLP (kept fp32 in the fp16 graph)."""
    return [node.name for node in model.graph.node if not node.name.startswith(LEARNED_SCOPES)]


def unquantized_matmuls(model) -> list[str]:
    """Every ``MatMul`` / ``Gemm`` but the metadata MLP's hidden layers: those whose input
    comes from a ``LeakyRelu`` (through the reshapes ORT's ``MatMul`` + ``Add`` → ``Gemm``
    fusion inserts)."""
    producers = {out: node for node in model.graph.node for out in node.output}

    def source(name: str):
        node = producers.get(name)
        while node is not None and node.op_type in RESHAPES:
            node = producers.get(node.input[0])
        return node

    return [node.name for node in model.graph.node if node.op_type in ("MatMul", "Gemm")
            and getattr(source(node.input[0]), "op_type", None) != "LeakyRelu"]
