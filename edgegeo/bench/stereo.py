"""Evaluation of learned stereo models beside the classical baselines (``edgegeo eval stereo
--model NAME=PATH``): method functions, the held-out synthetic benchmark, the models' size and
training-time table, and a picture of CroCo pre-training reconstructions.

A stereo method is ``fn(left, right) -> (H, W) float32`` disparity on ``(H, W, 3) uint8`` RGB.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgegeo.timing import median_time

SYNTHETIC_TEST_DATA = Path("data/stereo-test")


def parse_model_args(values: list[str] | None) -> dict[str, Path]:
    """``["NAME=PATH", ...]`` → ``{NAME: PATH}``; ValueError for a malformed item or a
    missing file."""
    models = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--model expects NAME=PATH (e.g. stereo=runs/stereo/"
                             f"stereo.safetensors), got {value!r}")
        if not Path(path).is_file():
            raise FileNotFoundError(f"--model {name}: no weights file {path}")
        models[name] = Path(path)
    return models


EXPORTED_BACKENDS = (("onnxruntime", "fp32"), ("onnxruntime", "int8"))
"""The exported variants ``--exported NAME`` adds beside that learned model's torch row."""


def learned_methods(models: dict[str, Path], max_disparity: float | None,
                    exported: tuple[str, ...] = ()) -> dict[str, Callable]:
    """``{name: predictor}`` of the stereo models (torch on the CPU; for the names in
    ``exported`` also ``name (ORT fp32)`` and ``name (ORT int8)``), each shrinking pairs whose
    disparities reach ``max_disparity`` into its range. The registry name (``stereo`` or ``croco-stereo``) is
    the one of the recipe that trained the weights (their model card)."""
    import edgegeo

    methods = {}
    for name, path in models.items():
        model = model_name(path)
        methods[name] = edgegeo.load(model, weights=path, max_disparity=max_disparity,
                                     check_rectification=False)
        for backend, precision in EXPORTED_BACKENDS if name in exported else ():
            methods[f"{name} (ORT {precision})"] = edgegeo.load(
                model, weights=path, backend=backend, precision=precision,
                max_disparity=max_disparity, check_rectification=False)
    return methods


def model_name(weights: Path) -> str:
    """The registry name of stereo weights: their card's recipe (``stereo`` without a card)."""
    from edgegeo.weights_io import load_model_card

    return load_model_card(weights, missing_ok=True).get("recipe", "stereo")


def latency_rows(methods: dict[str, Callable], sizes: list[tuple[int, int]], left, right,
                 repeats: int) -> list[dict]:
    """Median wall time (ms) of each method on the pair resized to each ``(H, W)`` (area
    resampling; disparities are not needed, only the time)."""
    import cv2

    rows = []
    for name, method in methods.items():
        row = {"method": name}
        for height, width in sizes:
            pair = [cv2.resize(view, (width, height), interpolation=cv2.INTER_AREA)
                    for view in (left, right)]
            _, seconds = median_time(lambda: method(*pair), repeats, warmup=1)   # graph builds
            row[f"{width}×{height} (ms)"] = f"{1000 * seconds:.0f}"
        rows.append(row)
    return rows


def model_rows(models: dict[str, Path]) -> list[dict]:
    """Per model: parameters, initialisation and the training time of each stage (the
    stereo card's wall time, after the runs it continued from (``init_from``), and the
    CroCo card's when initialised from one)."""
    from edgegeo.weights_io import load_model_card, load_weights

    rows = []
    for name, path in models.items():
        card = load_model_card(path, missing_ok=True)
        params = sum(t.numel() for t in load_weights(path).values())
        init = card.get("init", card.get("config", {}).get("init", "none"))
        croco = init not in ("none", "") and "init_from" not in card
        stages = training_stages(card)
        if croco and Path(init).is_file():
            pre = load_model_card(init, missing_ok=True)
            stages.insert(0, f"croco {pre.get('steps', '?')} steps "
                             f"{pre.get('wall_time_s', 0) / 60:.0f} min")
        rows.append({"model": name, "architecture": model_name(path),
                     "params (M)": f"{params / 1e6:.2f}",
                     "initialisation": "CroCo pre-training" if croco
                     else "random (no pre-training)",
                     "training on this machine": "; ".join(stages)})
    return rows


def training_stages(card: dict) -> list[str]:
    """``"<recipe> <steps> steps <minutes> min"`` for each run behind a card, the runs it
    continued from (``init_from``, nested) first."""
    earlier = card.get("init_from")
    stages = training_stages(earlier) if earlier else []
    recipe = card.get("recipe") or (card.get("command") or "edgegeo train stereo").split()[2]
    stages.append(f"{recipe} {card.get('steps', '?')} steps "
                  f"{card.get('wall_time_s', 0) / 60:.0f} min")
    return stages


def synthetic_rows(methods: dict[str, Callable], root: Path = SYNTHETIC_TEST_DATA,
                   limit: int = 0) -> tuple[list[dict], str]:
    """Mean EPE / bad-1 / bad-2 / D1 per method over the held-out synthetic stereo shards (test
    seeds).

    Returns:
        the rows and a sentence describing the data.
    """
    from edgegeo.data.splits import TEST_SEEDS
    from edgegeo.metrics.stereo import stereo_metrics
    from edgegeo.training.croco.data import load_two_view_shards

    pairs = load_two_view_shards(root, "stereo", split=TEST_SEEDS,
                                 purpose="held-out stereo evaluation")
    count = min(limit, len(pairs)) if limit else len(pairs)
    rows = []
    for name, method in methods.items():
        results = [stereo_metrics(np.asarray(method(pairs.first[i], pairs.second[i])),
                                  pairs.disparity[i], pairs.disparity[i] > 0)
                   for i in range(count)]
        rows.append({"method": name,
                     **{label: f"{np.mean([r[key] for r in results]):.{digits}f}"
                        for label, key, digits in (("EPE (px)", "epe", 3),
                                                   ("bad-1 (%)", "bad1", 2),
                                                   ("bad-2 (%)", "bad2", 2),
                                                   ("D1 (%)", "d1_all", 2))}})
    height, width = pairs.first.shape[1:3]
    gt = pairs.disparity[:count]
    described = (f"{count} held-out rectified pairs ({pairs.source}), {width}×{height} px, "
                 f"GT disparity median {np.median(gt[gt > 0]):.1f} px, 99th percentile "
                 f"{np.percentile(gt[gt > 0], 99):.1f} px; all pixels with GT (occluded ones "
                 "included)")
    return rows, described


def cross_view_rows(croco_weights: Path, stereo_dir: Path | None = None, count: int = 64,
                    crop_hw: tuple[int, int] = (96, 128)) -> list[dict]:
    """Does a CroCo model use view 2? Masked-patch MSE (per-patch normalised pixels, 90 %
    masked, fixed masks) of held-out pairs with their true view 2, and with view 2 of another
    pair; ``mean patch`` = predicting every patch's mean (≈ 1). Pairs: CroCo-scored pairs of 8
    ``VAL_SEEDS`` scenes rendered in memory, and the rectified pairs of ``stereo_dir``
    (``TEST_SEEDS`` shards) when given; ``count`` random same-place crops of each."""
    import torch

    from edgegeo.data.splits import TEST_SEEDS, VAL_SEEDS
    from edgegeo.models.croco import patchify, random_visible
    from edgegeo.models.registry import create_network
    from edgegeo.training.croco.data import generate_two_view, load_two_view_shards, pair_batch
    from edgegeo.training.croco.losses import masked_patch_loss

    model = create_network("croco", croco_weights).eval()
    sets = [("CroCo-scored pairs (validation scenes)",
             generate_two_view("pairs", VAL_SEEDS[:8], 4, 128, 160, split=VAL_SEEDS,
                               purpose="croco cross-view check"))]
    if stereo_dir is not None:
        sets.append(("rectified stereo pairs (test scenes)",
                     load_two_view_shards(stereo_dir, "stereo", 0, TEST_SEEDS, "croco check")))
    grid = (crop_hw[0] // model.patch_size) * (crop_hw[1] // model.patch_size)
    rows = []
    for name, pairs in sets:
        batch = pair_batch(pairs, count, crop_hw, seed=1)
        visible = random_visible(count, grid, 0.9, torch.Generator().manual_seed(0))
        target = patchify(batch["view1"], model.patch_size)
        with torch.no_grad():
            true = masked_patch_loss(model(batch["view1"], batch["view2"], visible), target,
                                     visible)
            other = masked_patch_loss(model(batch["view1"], batch["view2"].roll(1, 0),
                                            visible), target, visible)
        mean = masked_patch_loss(torch.zeros_like(target), target, visible)
        rows.append({"pairs": f"{name}, {count} crops", "true view 2": f"{float(true):.3f}",
                     "another pair's view 2": f"{float(other):.3f}",
                     "mean patch": f"{float(mean):.3f}"})
    return rows


def attention_disparity_rows(croco_weights: Path, stereo_dir: Path, count: int = 16,
                             crop_hw: tuple[int, int] = (96, 160)) -> list[dict]:
    """Does a CroCo model match by content? For ``count`` crops of the rectified test pairs of
    ``stereo_dir`` (left = view 1, nothing masked), each decoder block's cross-attention gives
    every left patch an *attention disparity*: its column minus the attention-weighted mean
    column of the right patches it looks at (pixels). Per block, the head whose attention
    disparity correlates best with the GT disparity (mean over the patch's valid pixels):
    that correlation, its mean absolute error, and the mean peak attention weight; ``median
    guess`` = the error of predicting the crops' median GT disparity everywhere."""
    import torch
    import torch.nn.functional as F

    from edgegeo.data.splits import TEST_SEEDS
    from edgegeo.models.registry import create_network
    from edgegeo.training.croco.data import load_two_view_shards, stereo_batch

    backbone = create_network("croco", croco_weights).eval().backbone
    pairs = load_two_view_shards(stereo_dir, "stereo", 0, TEST_SEEDS, "croco check")
    batch = stereo_batch(pairs, count, crop_hw, seed=3, jitter=0.0)
    patch = backbone.patch_size
    captured = []
    hooks = [block.cross_attn.register_forward_hook(
        lambda module, args, out: captured.append(module.weights(*args)))
        for block in backbone.dec_blocks]
    try:
        with torch.no_grad():
            left, left_positions = backbone.encode(batch["left"])
            right, right_positions = backbone.encode(batch["right"])
            backbone.decode(backbone.decoder_embed(left), left_positions, right,
                            right_positions)
    finally:
        for hook in hooks:
            hook.remove()
    valid = batch["valid"].float()
    counted = F.avg_pool2d(valid, patch)
    gt = (F.avg_pool2d(batch["disparity"] * valid, patch) / counted.clamp(min=1e-6)).flatten(1)
    keep = counted.flatten(1) > 0.5                                   # (B, N) patches with GT
    columns = left_positions[0, :, 1].float()                         # (N,) same grid both
    truth = gt[keep]
    guess = (truth - truth.median()).abs().mean()
    rows = []
    for index, weights in enumerate(captured):                        # (B, heads, N, M)
        disparity = (columns - weights @ columns) * patch              # (B, heads, N) pixels
        best = None
        for head in range(weights.shape[1]):
            values = disparity[:, head][keep]
            corr = float(np.corrcoef(values.numpy(), truth.numpy())[0, 1])
            if best is None or corr > best[1]:
                best = (head, corr, float((values - truth).abs().mean()),
                        float(weights[:, head].amax(-1).mean()))
        rows.append({"decoder block": index, "best head": best[0],
                     "correlation with GT": f"{best[1]:.2f}", "error (px)": f"{best[2]:.2f}",
                     "median guess (px)": f"{float(guess):.2f}",
                     "peak weight": f"{best[3]:.2f}"})
    return rows


def save_reconstruction_picture(croco_weights: Path, path: Path, pairs: int = 4,
                                crop_hw: tuple[int, int] = (96, 128)) -> Path:
    """A grid of CroCo reconstructions of one centre-cropped validation pair from each of the
    first ``pairs`` ``VAL_SEEDS`` scenes: per pair the masked view 1, the reconstruction,
    view 1 and view 2."""
    import torch

    from edgegeo.data.splits import VAL_SEEDS
    from edgegeo.models.croco import random_visible
    from edgegeo.models.registry import create_network
    from edgegeo.training.croco.data import generate_two_view
    from edgegeo.training.recipes.croco import reconstruction_images
    from edgegeo.viz import image_grid, save_png

    model = create_network("croco", croco_weights)
    data = generate_two_view("pairs", VAL_SEEDS[:pairs], 1, 128, 160, split=VAL_SEEDS,
                             purpose="croco pictures")
    top, left = ((size - crop) // 2 for size, crop in zip(data.first.shape[1:3], crop_hw))
    window = (slice(None), slice(top, top + crop_hw[0]), slice(left, left + crop_hw[1]))
    batch = {key: torch.from_numpy(np.ascontiguousarray(views[window])).permute(0, 3, 1, 2)
             .float() / 255.0 for key, views in (("view1", data.first), ("view2", data.second))}
    grid = (crop_hw[0] // model.patch_size) * (crop_hw[1] // model.patch_size)
    visible = random_visible(pairs, grid, card.get("config", {}).get("mask_ratio", 0.9),
                             torch.Generator().manual_seed(0))
    with torch.no_grad():
        shown = reconstruction_images(model.eval(), batch["view1"], batch["view2"], visible)
    images, labels = [], []
    for index in range(pairs):
        for key, label in (("view1_masked", "view 1, 90 % masked"),
                           ("reconstruction", "reconstruction"), ("view1", "view 1"),
                           ("view2", "view 2")):
            picture = (shown[key][index].permute(1, 2, 0).numpy() * 255).round()
            images.append(np.ascontiguousarray(picture.astype(np.uint8)))
            labels.append(label)
    return save_png(path, image_grid(images, labels, ncols=4))
