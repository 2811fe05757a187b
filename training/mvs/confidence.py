"""The mvs model's inference threshold on its own confidence, chosen on validation walk-throughs.

The ``planes`` design outputs, beside depth, the volume's confidence (the largest plane
probability). Where it is low the depth is a guess between several planes, and a TSDF map fused
from it gets wrong surfaces. :func:`choose_min_confidence` runs the trained model through the
keyframe stream on ``VAL_SEEDS`` walk-throughs once, then for each candidate threshold fuses the
keyframes' depth with the pixels below it left out and scores the mesh against the GT surface the
cameras saw (F-score at 5 cm, as ``edgegeo bench mvs``). With a planar prior
(:mod:`edgegeo.models.mvs.planar`) the kept depth is snapped to planes before fusion, as the
predictor will do. The lowest threshold whose mean F-score is within :data:`F_TIE` of the best
(:func:`pick_threshold`) becomes ``MVSNetConfig.min_confidence`` (0 = keep every pixel is one
of the candidates). Test scenes are never used.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from edgegeo.data.splits import VAL_SEEDS

from .data import RIG_SEED_FACTOR

CANDIDATES = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
F_SCORE_THRESHOLD_M = 0.05          # as edgegeo bench mvs
F_TIE = 0.005     # F-score gaps below this on a few validation scenes are noise: keep more depth


def pick_threshold(rows: list[dict[str, Any]], tie: float = F_TIE) -> float:
    """The lowest ``min_confidence`` of ``rows`` (as :func:`choose_min_confidence` returns
    them) whose ``fscore`` is within ``tie`` of the best: between thresholds that fuse equally
    good meshes, the one that leaves out fewer pixels."""
    best = max(row["fscore"] for row in rows)
    return min(row["min_confidence"] for row in rows if row["fscore"] >= best - tie)


def choose_min_confidence(model, scenes: int = 3, frames: int = 40, fps: float = 5.0,
                          min_sources: int = 2, candidates=CANDIDATES,
                          mesh_points: int = 50_000, planar_prior=None
                          ) -> tuple[float, list[dict[str, Any]]]:
    """The threshold in ``candidates`` for the mean fused-mesh F-score@5cm on ``scenes``
    validation walk-throughs (:func:`pick_threshold`), and the table behind it.

    Args:
        model: a trained ``MVSNet`` with the ``planes`` decoder (its own ``min_confidence``
            is ignored here).
        planar_prior: a :class:`~edgegeo.models.mvs.planar.PlanarPrior` the predictor will
            apply, or None.
    Returns:
        ``(threshold, rows)``; each row: ``min_confidence``, ``fscore``, ``precision``,
        ``recall`` (means over scenes) and ``kept`` (fraction of predicted pixels kept).
    """
    from edgegeo.fusion import TSDFFusion
    from edgegeo.models.mvs import MVSNet
    from edgegeo.models.mvs.planar import snap_to_planes
    from edgegeo.models.mvs.predictor import MVSPredictor, MVSStream

    if model.config.decoder != "planes":
        raise ValueError("only the planes decoder has a confidence to threshold")
    if model.config.hint:
        return _choose_hinted(model, scenes, frames, fps, min_sources, candidates, mesh_points,
                              planar_prior)
    unmasked = MVSNet(dataclasses.replace(model.config, min_confidence=0.0))
    unmasked.load_state_dict(model.state_dict())
    unmasked.eval()
    captured: list[torch.Tensor] = []
    hook = unmasked.register_forward_hook(
        lambda module, args, output: captured.append(output["full_confidence"].detach()))
    predictor = MVSPredictor(unmasked, resolution=tuple(model.config.image_size),
                             min_sources=min_sources)
    per_scene = []
    try:
        for walk, visible, seed in _validation_walks(model.config, scenes, frames, fps,
                                                     mesh_points):
            stream, predicted = MVSStream(predictor), {}
            for index, frame in enumerate(walk):
                captured.clear()
                depth = stream.push(frame)
                if depth is not None:
                    predicted[index] = (depth, captured[-1][0, 0].numpy())
            per_scene.append((walk, visible, predicted, seed))
    finally:
        hook.remove()
    rows = []
    for threshold in candidates:
        scores, kept = [], []
        for walk, visible, predicted, seed in per_scene:
            fusion = TSDFFusion()
            for index, (depth, confidence) in sorted(predicted.items()):
                keep = confidence >= threshold
                kept.append(float(keep.mean()))
                depth = np.where(keep, depth, 0.0).astype(np.float32)
                if planar_prior is not None:
                    depth = snap_to_planes(walk[index].rgb, depth, confidence, walk[index].K,
                                           planar_prior)
                fusion.integrate(depth, walk[index].K, walk[index].world_T_cam, walk[index].rgb)
            scores.append(_mesh_scores(fusion.extract_mesh(), visible, mesh_points, seed))
        rows.append(_row(threshold, scores, kept))
    return pick_threshold(rows), rows


def _mesh_scores(mesh, visible, mesh_points: int, seed: int) -> dict[str, float]:
    """F-score@5cm, precision and recall of a fused mesh against the visible GT surface."""
    from edgegeo.metrics.mesh import mesh_metrics

    if not mesh.has_triangles():
        return {"fscore": 0.0, "precision": 0.0, "recall": 0.0}
    return mesh_metrics(mesh, visible, F_SCORE_THRESHOLD_M, mesh_points, seed)


def _row(threshold: float, scores: list[dict[str, float]], kept: list[float]) -> dict[str, Any]:
    """One candidate's row: its mean scores over the scenes and the fraction of pixels kept."""
    return {"min_confidence": float(threshold),
            **{key: float(np.mean([s[key] for s in scores]))
               for key in ("fscore", "precision", "recall")},
            "kept": float(np.mean(kept)) if kept else 0.0}


def _validation_walks(config, scenes: int, frames: int, fps: float, mesh_points: int):
    """``(walk-through frames, visible GT surface points, seed)`` of the first ``scenes``
    validation scenes at the model's working size."""
    from edgegeo.data.synthetic import generate_scene, walkthrough
    from edgegeo.data.visibility import visible_surface_points
    from edgegeo.fusion import FusionConfig

    for seed in VAL_SEEDS[:scenes]:
        scene = generate_scene(seed)
        height, width = config.image_size
        walk = walkthrough(scene, frames, width, height, seed=seed * RIG_SEED_FACTOR, fps=fps,
                           progress=False)
        yield walk, visible_surface_points(scene.mesh, walk, n_points=mesh_points,
                                           max_depth=FusionConfig().max_depth, seed=seed), seed


def _choose_hinted(model, scenes, frames, fps, min_sources, candidates, mesh_points,
                   planar_prior):
    """:func:`choose_min_confidence` for a hinted model: the threshold also decides what is
    fused, and so the hints, so each candidate runs the stream (with its fusion) again."""
    from edgegeo.fusion import TSDFFusion
    from edgegeo.models.mvs import MVSNet
    from edgegeo.models.mvs.predictor import MVSPredictor, MVSStream

    walks = list(_validation_walks(model.config, scenes, frames, fps, mesh_points))
    rows = []
    for threshold in candidates:
        masked = MVSNet(dataclasses.replace(model.config, min_confidence=float(threshold)))
        masked.load_state_dict(model.state_dict())
        predictor = MVSPredictor(masked.eval(), resolution=tuple(model.config.image_size),
                                 min_sources=min_sources, planar_prior=planar_prior)
        scores, kept = [], []
        for walk, visible, seed in walks:
            stream = MVSStream(predictor, fusion=TSDFFusion())
            for frame in walk:
                depth = stream.push(frame)
                if depth is not None:
                    kept.append(float((depth > 0).mean()))
            scores.append(_mesh_scores(stream.fusion.extract_mesh(), visible, mesh_points, seed))
        rows.append(_row(threshold, scores, kept))
    return pick_threshold(rows), rows
