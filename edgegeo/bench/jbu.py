"""``edgegeo bench upsample``: depth ×N upsampling on held-out synthetic frames, the learned
JBU against interpolation, OpenCV's joint bilateral and guided filters and the fixed JBU op.

Protocol: the ground-truth depth of each held-out frame (``TEST_SEEDS`` shards) is
area-downsampled ×N (invalid-aware) and upsampled back guided by the full-resolution image;
RMSE / AbsRel / δ<1.05 against the ground truth, averaged over frames. The filters' parameters
are tuned by grid search on training frames (``TRAIN_SEEDS`` shards), never on the test frames.
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import numpy as np

from edgegeo.data.splits import TEST_SEEDS, TRAIN_SEEDS
from edgegeo.models.jbu import baselines as B

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def _resolve(path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() or path.exists() else REPO_ROOT / path


def shard_frames(folder: str | Path, split: range, purpose: str, max_scenes: int = 0
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(rgb, depth)`` of every frame of the ``scene_<seed>`` shards in ``folder``, seeds
    checked against ``split``; empty when there are none."""
    from edgegeo.data.synthetic import read_shard, scene_shards

    shards = scene_shards(_resolve(folder), split, purpose, max_scenes, missing_ok=True)
    return [(f.rgb, f.depth) for shard in shards for f in read_shard(shard)]


def render_test_shards(folder: str | Path, scenes: int, frames: int, width: int, height: int
                       ) -> None:
    """Render the held-out shards with the scene engine, as ``edgegeo data render --rig
    walkthrough --seed 1000`` does (scene seed 1000 + i, rig seed ``seed · 1_000_003``)."""
    from edgegeo.data.synthetic import generate_scene, walkthrough, write_shard

    folder = _resolve(folder)
    for index in range(scenes):
        seed = TEST_SEEDS.start + index
        scene = generate_scene(seed)
        write_shard(folder / f"scene_{seed:06d}",
                    walkthrough(scene, frames, width, height, seed=seed * 1_000_003,
                                progress=False))


def _timed(method, samples) -> tuple[dict, float]:
    start = time.perf_counter()
    outputs = [method(low, image) for low, image, _ in samples]
    seconds = (time.perf_counter() - start) / len(samples)
    from edgegeo.metrics.depth import depth_metrics

    rows = [depth_metrics(out, gt) for out, (_, _, gt) in zip(outputs, samples)]
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}, seconds * 1000


def run_depth_benchmark(test_dir: str | Path, train_dir: str | Path, scale: int = 4,
                        tune_frames: int = 24, test_frames: int = 0,
                        weights: str | Path | None = None, grids: dict | None = None,
                        render_if_missing: tuple[int, int, int, int] | None = (20, 4, 320, 240),
                        log=print) -> tuple[list[dict], dict]:
    """Run the depth benchmark.

    Args:
        test_dir: held-out shards (TEST seeds); rendered there when missing and
            ``render_if_missing = (scenes, frames, width, height)`` is given.
        train_dir: training shards (TRAIN seeds) the filters are tuned on.
        scale: upsampling factor.
        tune_frames, test_frames: frames used (evenly spaced; 0 = all test frames).
        weights: learned JBU weights (default: the shipped ``jbu``).
        grids: ``{"opencv_jbf": ..., "guided_filter": ..., "fixed_jbu": ...}`` parameter
            grids (default the module's of :mod:`edgegeo.models.jbu.baselines`).
    Returns:
        ``(rows, info)``: one row per method (method, parameters, rmse_m, abs_rel, a105,
        ms_per_frame) and ``info`` (frame counts and sizes, the learned model's card, the
        samples, the outputs of the picture frame).
    """
    import edgegeo

    grids = grids or {"opencv_jbf": B.OPENCV_JBF_GRID, "guided_filter": B.GUIDED_FILTER_GRID,
                      "fixed_jbu": B.FIXED_JBU_GRID}
    test = shard_frames(test_dir, TEST_SEEDS, "the upsampling benchmark's test frames")
    if not test and render_if_missing:
        log(f"no test shards in {test_dir}: rendering {render_if_missing[0]} held-out scenes")
        render_test_shards(test_dir, *render_if_missing)
        test = shard_frames(test_dir, TEST_SEEDS, "the upsampling benchmark's test frames")
    if not test:
        raise FileNotFoundError(f"no held-out shards in {test_dir} (render them with "
                                "`edgegeo data render --rig walkthrough --seed 1000 ...`)")
    train = shard_frames(train_dir, TRAIN_SEEDS, "tuning the upsampling baselines")
    if not train:
        raise FileNotFoundError(f"no training shards in {train_dir} to tune the filters on")
    test_samples = B.make_samples(test, scale, test_frames)
    tune_samples = B.make_samples(train, scale, tune_frames)

    methods: list[tuple[str, str, object]] = [("bilinear", "", B.bilinear),
                                              ("bicubic", "", B.bicubic)]
    for name, label, function in (("opencv_jbf", "OpenCV ximgproc.jointBilateralFilter",
                                   B.opencv_jbf),
                                  ("guided_filter", "OpenCV ximgproc.guidedFilter",
                                   B.guided_filter),
                                  ("fixed_jbu", "fixed JBU (edgegeo.ops)", B.fixed_jbu)):
        start = time.perf_counter()
        params, score = B.tune(function, grids[name], tune_samples)
        log(f"tuned {name} on {len(tune_samples)} training frames in "
            f"{time.perf_counter() - start:.0f} s: {params} (train RMSE {score:.4f} m)")
        methods.append((label, ", ".join(f"{k}={v:g}" for k, v in params.items()),
                        partial(function, **params)))
    predictor = edgegeo.load("jbu", weights=weights)
    card_path = Path(weights).with_suffix(".json") if weights else \
        REPO_ROOT / "edgegeo" / "weights" / "jbu.json"
    params = sum(p.numel() for p in predictor.model.parameters())
    methods.append(("learned JBU (ours)", f"{params} params", predictor))

    rows = []
    for label, params_text, method in methods:
        metrics, ms = _timed(method, test_samples)
        rows.append({"method": label or method.__name__, "parameters": params_text or "-",
                     "rmse_m": metrics["rmse"], "abs_rel": metrics["abs_rel"],
                     "a105": metrics["a105"], "ms_per_frame": ms})
        log(f"{rows[-1]['method']}: RMSE {metrics['rmse']:.4f} m, AbsRel "
            f"{metrics['abs_rel']:.4f}")
    height, width = test_samples[0][2].shape
    info = {"test_frames": len(test_samples), "tune_frames": len(tune_samples),
            "size": (width, height), "low_size": test_samples[0][0].shape[::-1],
            "card": card_path, "methods": methods, "samples": test_samples}
    return rows, info


def error_picture(path: str | Path, methods, sample, max_bytes: int = 300_000) -> Path:
    """Save a labelled grid for one frame: the image, GT depth, and the absolute error maps
    of the methods (same colour scale), as a PNG under ``max_bytes`` (downscaled if needed).
    """
    import cv2

    from edgegeo.viz import colorize, image_grid, save_png

    low, image, gt = sample
    depth_range = (float(gt[gt > 0].min()), float(gt.max()))
    errors = [(label, np.abs(method(low, image) - gt) * (gt > 0)) for label, method in methods]
    vmax = max(float(np.percentile(e, 99.5)) for _, e in errors) or 1e-3
    tiles = [image, colorize(gt, *depth_range),
             colorize(cv2.resize(low, gt.shape[::-1], interpolation=cv2.INTER_NEAREST),
                      *depth_range)]
    labels = ["image", "GT depth", f"input (1/{gt.shape[0] // low.shape[0]}, nearest)"]
    for label, error in errors:
        tiles.append(colorize(error, 0.0, vmax, cmap="magma", invalid=None))
        rmse = float(np.sqrt(np.mean(error[gt > 0] ** 2)))
        labels.append(f"|err| {label}: {rmse:.3f} m")
    grid = image_grid(tiles, labels, ncols=4)
    path = Path(path)
    factor = 1.0
    while True:
        shown = grid if factor == 1.0 else cv2.resize(grid, None, fx=factor, fy=factor,
                                                      interpolation=cv2.INTER_AREA)
        save_png(path, shown)
        if path.stat().st_size <= max_bytes or factor < 0.3:
            return path
        factor *= 0.8


def report_body(rows: list[dict], info: dict, scale: int, feature_rows: list[dict] | None,
                feature_note: str = "", picture: str | None = None) -> str:
    """Markdown of the section: protocol, the table, the picture, the feature rows."""
    from edgegeo.bench_report import markdown_table

    width, height = info["size"]
    low_w, low_h = info["low_size"]
    text = [
        f"Depth x{scale} upsampling on {info['test_frames']} held-out synthetic frames "
        f"(TEST seeds, {width}x{height}); input = GT depth area-downsampled x{scale} "
        f"({low_w}x{low_h}, invalid-aware), guide = the full-resolution RGB image. "
        f"Filter parameters tuned by grid search (lowest RMSE) on {info['tune_frames']} "
        "training frames (TRAIN seeds), never on test frames. OpenCV filters are applied to "
        "the bilinear upsampling; the fixed JBU places the samples and filters them "
        "(edgegeo.ops.joint_bilateral_upsample). Metrics are per-frame means; ms/frame is "
        "the single-process CPU time.",
        "",
        markdown_table(rows, ["method", "parameters", "rmse_m", "abs_rel", "a105",
                              "ms_per_frame"]),
    ]
    if picture:
        text += ["", f"![depth x{scale} error maps]({picture})"]
    if feature_rows:
        text += ["", feature_note, "",
                 markdown_table(feature_rows, ["upsampler", "mse_attention_down",
                                               "mse_average_down"])]
    return "\n".join(text)


def feature_rows(weights: str | Path, images: int = 16, test_dir: str | Path = "data/synth-test"
                 ) -> tuple[list[dict], str] | None:
    """Held-out multi-view reconstruction MSE of bilinear / bicubic / learned JBU for a
    trained ``jbu-features`` run (``weights``: its ``.safetensors``, card beside it); None when
    there is no such run."""
    from edgegeo.weights_io import load_model_card, load_weights

    weights = _resolve(weights)
    card = load_model_card(weights, missing_ok=True) if weights.is_file() else {}
    if not card or card.get("smoke"):
        return None
    from edgegeo.training.config import make_config
    from edgegeo.training.jbu.data import load_frames
    from edgegeo.training.jbu.features import reconstruction_losses
    from edgegeo.training.recipes import get_recipe

    recipe = get_recipe("jbu-features")
    overrides = [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                 for k, v in card["config"].items()
                 if k in ("encoder", "image_size", "work_scale", "max_zoom", "pad_fraction",
                          "key_dim", "correction_hidden")]
    cfg = make_config(recipe.config_cls, overrides=overrides)
    model = recipe.build_model(cfg)
    model.load_state_dict(load_weights(weights))
    frames, _ = load_frames(test_dir, TEST_SEEDS, "feature benchmark")
    losses = reconstruction_losses(model, frames, cfg, images)
    rows = [{"upsampler": name, "mse_attention_down": losses[f"mse_{name}_attention"],
             "mse_average_down": losses[f"mse_{name}_average"]}
            for name in ("bilinear", "bicubic", "jbu")]
    note = (f"Feature upsampling x{2 ** len(model.upsampler.stages)} (FeatUp multi-view "
            f"reconstruction, `{weights.name}`, {card['steps']} steps, encoder "
            f"{model.encoder.source}): on {int(losses['images'])} held-out images "
            f"({cfg.image_size[0]}x{cfg.image_size[1]}), 4 fixed jitters each, the encoder's "
            "low-res features are upsampled, jittered, downsampled (learned attention "
            "downsampler, or a plain patch average) and compared with the features of the "
            "jittered image: mean squared error per channel (lower is better).")
    return rows, note
