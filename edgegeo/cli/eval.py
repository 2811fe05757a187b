"""``edgegeo eval``: evaluate methods against ground truth, print the results and, with
``--record``, record them in ``docs/benchmarks.md``.

``edgegeo eval mono`` evaluates monocular relative-depth models (the Depth Anything teacher,
student and ablation students, plus trivial baselines) on held-out synthetic scenes and on
Motorcycle's left image: AbsRel and δ1 after per-image least-squares scale + shift in disparity
space, parameters, CPU latency and training time; it saves a picture under ``--out`` (with
``--record``: in ``docs/images/``) and, with ``--record``, writes the ``mono-depth`` section of
``docs/benchmarks.md``.

``edgegeo eval stereo`` runs stereo methods on Middlebury 2014 Motorcycle (¼ resolution, bundled
with scikit-image), prints EPE / bad-1/2/3 / D1 / density / runtime, saves a picture under
``--out`` and, with ``--record``, writes the ``stereo-motorcycle`` section of
``docs/benchmarks.md``. A stereo method is any function
``(left, right) -> disparity`` on ``(H, W, 3) uint8`` RGB images returning ``(H, W) float32``
pixels with 0 = no match; :func:`stereo_methods` lists the ones to run.
"""
from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable
from functools import partial
from pathlib import Path

from edgegeo.timing import median_time

STEREO_SECTION = "stereo-motorcycle"
STEREO_BASELINES = ("sgbm",)
STEREO_COLUMNS = ["method", "EPE (px)", "bad-1 (%)", "bad-2 (%)", "bad-3 (%)", "D1 (%)",
                  "density (%)", "runtime (ms)"]
ERROR_MAP_MAX_PX = 4.0
SYNTHETIC_SEARCH_PX = 192
"""SGBM's search on the held-out synthetic pairs: the range of the ``stereo`` model."""


def register(subparsers) -> None:
    """Add ``eval`` and its benchmarks to the ``edgegeo`` command line."""
    from edgegeo.bench_report import add_record_argument

    parser = subparsers.add_parser(
        "eval", help="evaluate methods against ground truth",
        description="Evaluate methods against ground truth, print the metrics and save pictures "
                    "under --out; with --record, also record the table in docs/benchmarks.md.")
    parser.set_defaults(func=lambda args: _print_help(parser))
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK")
    stereo = benchmarks.add_parser(
        "stereo", help="stereo disparity on Middlebury 2014 Motorcycle",
        description="Run stereo methods on Middlebury 2014 Motorcycle at 1/4 resolution (741x500, "
                    "bundled with scikit-image): EPE, bad-1/2/3, KITTI D1, density and runtime. "
                    "Invalid predictions count as errors. Prints the table and saves "
                    "OUT/stereo-motorcycle.png; --record also writes the "
                    f"'{STEREO_SECTION}' section of docs/benchmarks.md.")
    stereo.add_argument("--baseline", action="append", choices=STEREO_BASELINES,
                        help="classical baseline to run (repeatable; default: all). 'sgbm' gives "
                             "two rows: OpenCV SGBM with a-priori defaults, and with the "
                             "parameters tuned on Motorcycle itself (optimistic)")
    stereo.add_argument("--out", type=Path, default=Path("out/eval"),
                        help="folder for pictures (default: out/eval)")
    stereo.add_argument("--repeats", type=int, default=3,
                        help="timed runs per method; the median is reported (default: 3)")
    stereo.add_argument("--sweep", action="store_true",
                        help="also run the SGBM parameter sweep on Motorcycle, print it and save "
                             "OUT/sgbm-sweep.md")
    stereo.add_argument("--model", action="append", metavar="NAME=PATH",
                        help="a learned stereo model to evaluate too (repeatable), e.g. "
                             "stereo=runs/stereo/stereo.safetensors "
                             "'no pre-training'=runs/stereo-scratch/stereo.safetensors")
    stereo.add_argument("--exported", action="append", default=[], metavar="NAME",
                        help="also run the --model NAME exported to ONNX Runtime fp32 and int8 "
                             "(repeatable)")
    stereo.add_argument("--latency", action="store_true",
                        help="also time every method at 741x500 and 640x480 (median of "
                             "--repeats) into a latency table")
    stereo.add_argument("--synthetic", type=Path, metavar="DIR",
                        help="also evaluate every method on held-out synthetic stereo shards "
                             "(test seeds), e.g. data/stereo-test")
    stereo.add_argument("--croco", type=Path, metavar="PATH",
                        help="croco weights: save a picture of its reconstructions of held-out "
                             "pairs (see --images)")
    stereo.add_argument("--images", type=Path, metavar="DIR",
                        help="also save the pictures the benchmarks file links to here "
                             "(stereo_motorcycle.png, croco_reconstruction.png), e.g. "
                             "docs/images")
    stereo.add_argument("--notes", type=Path, metavar="FILE",
                        help="markdown appended to the recorded section (how the models were "
                             "trained, what the numbers mean)")
    add_record_argument(stereo, STEREO_SECTION)
    stereo.set_defaults(func=run_stereo)
    _register_mono(benchmarks)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def stereo_methods(baselines: list[str], max_disparity: float) -> dict[str, Callable]:
    """The stereo methods to evaluate, ``{row name: fn(left, right) -> disparity}``.

    Args:
        baselines: names from :data:`STEREO_BASELINES`.
        max_disparity: the data's disparity bound, pixels (Motorcycle's ``ndisp``; the learned
            models' range on the synthetic pairs): it sizes the SGBM search.
    """
    from edgegeo.baselines.sgbm import TUNED_ON_MOTORCYCLE, sgbm_disparity

    methods = {}
    if "sgbm" in baselines:
        methods["SGBM (defaults)"] = partial(sgbm_disparity, num_disparities=max_disparity)
        methods["SGBM (tuned on Motorcycle GT)"] = partial(
            sgbm_disparity, num_disparities=max_disparity, **TUNED_ON_MOTORCYCLE)
    return methods


def stereo_row(name: str, metrics: dict, seconds: float) -> dict:
    """One table row (formatted strings) from :func:`~edgegeo.metrics.stereo.stereo_metrics`."""
    return {"method": name, "EPE (px)": f"{metrics['epe']:.3f}",
            "bad-1 (%)": f"{metrics['bad1']:.2f}", "bad-2 (%)": f"{metrics['bad2']:.2f}",
            "bad-3 (%)": f"{metrics['bad3']:.2f}", "D1 (%)": f"{metrics['d1_all']:.2f}",
            "density (%)": f"{metrics['density']:.1f}", "runtime (ms)": f"{1000 * seconds:.0f}"}


def run_stereo(args) -> int:
    """``edgegeo eval stereo``: evaluate, print, save the picture, record the section."""
    import numpy as np

    from edgegeo.bench_report import markdown_table, write_section
    from edgegeo.data.middlebury import load_motorcycle
    from edgegeo.metrics.stereo import stereo_metrics

    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    from edgegeo.bench.stereo import learned_methods, parse_model_args

    sample = load_motorcycle()
    models = parse_model_args(args.model)
    methods = stereo_methods(args.baseline or list(STEREO_BASELINES), sample.ndisp)
    methods.update(learned_methods(models, max_disparity=sample.ndisp,
                                   exported=tuple(args.exported)))
    # The synthetic test pairs share the training distribution: no shrinking there.
    synthetic_methods = {**stereo_methods(args.baseline or list(STEREO_BASELINES),
                                          SYNTHETIC_SEARCH_PX),
                         **learned_methods(models, max_disparity=None)}
    rows, disparities = [], {}
    for name, method in methods.items():
        disparity, seconds = median_time(lambda: method(sample.left, sample.right),
                                         args.repeats)
        disparity = np.asarray(disparity)
        if disparity.shape != sample.disparity.shape or disparity.dtype != np.float32:
            raise ValueError(f"{name} returned {disparity.shape} {disparity.dtype}, expected "
                             f"{sample.disparity.shape} float32")
        disparities[name] = disparity
        rows.append(stereo_row(name, stereo_metrics(disparity, sample.disparity, sample.valid),
                               seconds))
    table = markdown_table(rows, STEREO_COLUMNS)
    print(f"Middlebury 2014 Motorcycle, {sample.left.shape[1]}x{sample.left.shape[0]}, "
          f"{int(sample.valid.sum())} ground-truth pixels\n\n{table}")
    if args.sweep:
        sweep_table = sgbm_sweep_table(sample)
        sweep_path = Path(args.out) / "sgbm-sweep.md"
        sweep_path.parent.mkdir(parents=True, exist_ok=True)
        sweep_path.write_text(sweep_table + "\n")
        print(f"\nSGBM sweep (sorted by bad-2):\n\n{sweep_table}\n\nsaved: {sweep_path}")
    figure_path = save_stereo_figure(Path(args.out) / f"{STEREO_SECTION}.png", sample, disparities)
    print(f"\npicture: {figure_path}")
    if args.images:
        _save_small_copy(figure_path, args.images / "stereo_motorcycle.png")
    extra = _learned_stereo_tables(args, synthetic_methods, models)
    if args.latency:
        import torch

        from edgegeo.bench.stereo import latency_rows

        latency = markdown_table(latency_rows(methods, [(500, 741), (480, 640)], sample.left,
                                              sample.right, args.repeats))
        text = (f"Latency, median of {args.repeats} calls after a warm-up, "
                f"{torch.get_num_threads()} torch / ONNX Runtime threads (OpenCV's default "
                f"for SGBM), whole predictor (padding, resizing, checks):\n\n{latency}")
        print("\n" + text)
        extra += "\n\n" + text
    if args.notes:
        extra += "\n\n" + Path(args.notes).read_text().strip()
    if args.record:
        path = write_section(STEREO_SECTION, "Stereo: Middlebury 2014 Motorcycle (¼ res.)",
                             _stereo_section_body(sample, table) + extra)
        print(f"recorded: {path} [{STEREO_SECTION}]")
    return 0


def _save_small_copy(picture: Path, target: Path) -> Path:
    """Save ``picture`` at the first of :data:`FIGURE_SCALES` that makes the PNG smaller than
    :data:`FIGURE_MAX_BYTES` (what the benchmarks file links to stays light)."""
    import cv2

    from edgegeo.viz import save_png

    image = cv2.cvtColor(cv2.imread(str(picture)), cv2.COLOR_BGR2RGB)
    target.parent.mkdir(parents=True, exist_ok=True)
    for scale in FIGURE_SCALES:
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        save_png(target, small)
        if target.stat().st_size <= FIGURE_MAX_BYTES:
            break
    return target


def _learned_stereo_tables(args, methods: dict, models: dict) -> str:
    """Markdown (also printed) for the synthetic held-out table (``methods`` as run there),
    the learned models' sizes and training times, and the CroCo picture; empty when none was
    asked for."""
    from edgegeo.bench_report import markdown_table
    from edgegeo.bench.stereo import (attention_disparity_rows, cross_view_rows, model_rows,
                                     save_reconstruction_picture, synthetic_rows)

    parts = []
    if args.synthetic:
        rows, described = synthetic_rows(methods, args.synthetic)
        parts.append(f"Held-out synthetic pairs: {described}.\n\n{markdown_table(rows)}")
    if models:
        parts.append("Learned models (`edgegeo train stereo`: the cost-volume network; "
                     "`edgegeo train croco-stereo`: CroCo-Stereo), Motorcycle shrunk when its "
                     "disparity bound exceeds a model's range:\n\n"
                     f"{markdown_table(model_rows(models))}")
    if args.images and models:
        parts.append("![Motorcycle: left, GT, and per method disparity and error]"
                     "(images/stereo_motorcycle.png)")
    if args.croco:
        folder = args.images or Path(args.out)
        picture = save_reconstruction_picture(args.croco, folder / "croco_reconstruction.png")
        link = f"images/{picture.name}" if args.images else str(picture)
        parts.append("CroCo pre-training: reconstructions of held-out validation pairs (per "
                     "row: view 1 with 90 % of its patches masked, the reconstruction, view 1, "
                     f"view 2)\n\n![CroCo reconstructions]({link})")
        parts.append("Does the pre-trained model use view 2? Masked-patch MSE (normalised "
                     "pixels) with the true view 2 and with another pair's; equal numbers "
                     "mean view 2 is ignored:\n\n"
                     + markdown_table(cross_view_rows(args.croco, args.synthetic)))
        if args.synthetic:
            parts.append("Does it match by content? Per decoder block, the cross-attention's "
                         "disparity (a left patch's column minus the attention-weighted mean "
                         "column it looks at in the right view) of the best head, on 16 "
                         "held-out rectified crops:\n\n"
                         + markdown_table(attention_disparity_rows(args.croco,
                                                                   args.synthetic)))
    text = "\n\n".join(parts)
    if text:
        print("\n" + text)
    return "\n\n" + text if text else ""


def _stereo_section_body(sample, table: str) -> str:
    from edgegeo.baselines.sgbm import SWEEP_GRID, TUNED_ON_MOTORCYCLE

    grid = "; ".join(f"{key} ∈ {values}" for key, values in SWEEP_GRID.items())
    tuned = ", ".join(f"{key}={value}" for key, value in TUNED_ON_MOTORCYCLE.items())
    return (
        f"Middlebury 2014 *Motorcycle* (perfect calibration), {sample.left.shape[1]}×"
        f"{sample.left.shape[0]} px (¼ of full resolution, as bundled with scikit-image), all "
        f"{int(sample.valid.sum())} pixels with ground truth (occluded ones included). "
        "EPE in pixels, after KITTI-devkit background filling of invalid predictions; "
        "bad-x = % of pixels with error > x px **or no prediction**; D1 = % with error > 3 px "
        "and > 5 % of the true disparity, or no prediction; density = % of ground-truth pixels "
        f"with a prediction. Disparity search sized by the dataset's bound ndisp = "
        f"{sample.ndisp:g} px (rounded up to a multiple of 16). Runtime: median wall time of "
        "repeated calls on this machine (OpenCV's default threading), milliseconds.\n\n"
        f"{table}\n\n"
        "SGBM (defaults): OpenCV StereoSGBM with a-priori parameters (block 5, P1 = 8·3·b², "
        "P2 = 32·3·b², uniqueness 10, speckle 100 px / 2 px, left-right check 1 px, 3-way mode, "
        "images padded on the left so the first columns are matched).  \n"
        "SGBM (tuned on Motorcycle GT): parameters chosen on this image's own ground truth, "
        f"hence optimistic: best bad-2 over the grid {grid} → {tuned}. Re-run the sweep with `edgegeo eval stereo --baseline sgbm --sweep`.")


def sgbm_sweep_table(sample) -> str:
    """Evaluate every :data:`~edgegeo.baselines.sgbm.SWEEP_GRID` point on ``sample``; return a
    markdown table sorted by bad-2 (the selection metric)."""
    from edgegeo.bench_report import markdown_table
    from edgegeo.baselines.sgbm import SWEEP_GRID, sgbm_disparity
    from edgegeo.metrics.stereo import stereo_metrics

    results = []
    for values in itertools.product(*SWEEP_GRID.values()):
        params = dict(zip(SWEEP_GRID, values))
        disparity = sgbm_disparity(sample.left, sample.right, sample.ndisp, **params)
        metrics = stereo_metrics(disparity, sample.disparity, sample.valid)
        results.append((metrics["bad2"], {**params, "EPE (px)": f"{metrics['epe']:.3f}",
                                          "bad-2 (%)": f"{metrics['bad2']:.2f}",
                                          "density (%)": f"{metrics['density']:.1f}"}))
    return markdown_table([row for _, row in sorted(results, key=lambda r: r[0])])


def save_stereo_figure(path: Path, sample, disparities: dict) -> Path:
    """Save a picture: left image | ground-truth disparity, then per method its disparity | its
    error map (|error| 0–4 px in turbo; black = no ground truth, white = no prediction)."""
    import numpy as np

    from edgegeo.viz import colorize, image_grid, save_png

    low, high = (float(v) for v in np.percentile(sample.disparity[sample.valid], [0.5, 99.5]))
    images = [sample.left.copy(), colorize(sample.disparity, low, high)]  # image_grid draws labels in place
    labels = ["left", "ground truth disparity"]
    for name, disparity in disparities.items():
        images.append(colorize(disparity, low, high))
        labels.append(name)
        images.append(error_map(disparity, sample.disparity, sample.valid))
        labels.append(f"|error| 0-{ERROR_MAP_MAX_PX:g} px, white = no match")
    return save_png(path, image_grid(images, labels, ncols=2))


def error_map(pred, gt, valid):
    """``(H, W, 3) uint8`` picture of |pred − gt| over 0–4 px (turbo); black where there is
    no ground truth, white where the prediction is invalid (≤ 0 or non-finite)."""
    import numpy as np

    from edgegeo.viz import colorize

    picture = colorize(np.abs(pred.astype(np.float64) - gt), 0.0, ERROR_MAP_MAX_PX, invalid=None)
    picture[~valid] = 0
    picture[valid & ~(np.isfinite(pred) & (pred > 0))] = 255
    return picture


# ----------------------------------------------------------------------------------- mono

MONO_SECTION = "mono-depth"
MONO_FIGURE = "mono_motorcycle.png"
MONO_TEST_DATA = Path("data/synth-test")
MONO_TEST_SCENES = 20          # TEST_SEEDS[:20], as `edgegeo data render --seed 1000 --scenes 20`
MONO_TEST_FRAMES = 4
MONO_TEST_SIZE = (240, 320)    # (H, W)
MONO_LATENCY_HW = (256, 320)
FIGURE_SCALES = (0.5, 0.4, 0.33, 0.25)   # picture size, tried in order ...
FIGURE_MAX_BYTES = 290_000               # ... until the PNG is this small
CLAIM_MARGIN = 0.01            # AbsRel gap on Motorcycle below which the claim is a tie
MONO_RESOLUTION = 128          # short side at evaluation: the training crops' scale
MONO_COLUMNS = ["method", "synthetic AbsRel", "synthetic δ1", "Motorcycle AbsRel",
                "Motorcycle δ1", "params (M)", "CPU latency 256×320 (ms)", "training (min)"]
# (row label, weights path): the student (--weights, else shipped, else its run folder) and the
# other stages' run folders.
MONO_MODELS = (
    ("teacher", "runs/mono-depth-teacher/mono-depth-teacher.safetensors"),
    ("student", None),
    ("student w/o perturbation", "runs/mono-depth-no-perturb/mono-depth.safetensors"),
    ("student w/o feature alignment", "runs/mono-depth-no-feature-align/mono-depth.safetensors"),
)


def _register_mono(benchmarks) -> None:
    from edgegeo.bench_report import add_record_argument

    mono = benchmarks.add_parser(
        "mono", help="monocular relative depth: synthetic test scenes + Motorcycle",
        description="Evaluate monocular relative-depth models (Depth Anything teacher, student, "
                    "ablations) and trivial baselines (constant disparity; disparity rising "
                    "linearly down the image) on held-out synthetic scenes (TEST_SEEDS; "
                    "rendered into --test-data if missing) and on Middlebury Motorcycle's left "
                    "image: AbsRel and δ1 after per-image least-squares scale + shift in "
                    "disparity space; parameters; median torch CPU latency at 256x320; "
                    "training wall time from the model cards. Prints the table and saves a "
                    f"picture (OUT/{MONO_FIGURE}); --record also writes the '{MONO_SECTION}' "
                    f"section of docs/benchmarks.md and saves the picture it links to "
                    f"(docs/images/{MONO_FIGURE}).")
    mono.add_argument("--weights", type=Path,
                      help="the student's .safetensors (default: the shipped "
                           "edgegeo/weights/mono-depth.safetensors)")
    mono.add_argument("--model", action="append", default=[], metavar="LABEL=PATH",
                      help="evaluate these .safetensors instead of the default rows (teacher, "
                           "student, ablations from runs/; repeatable)")
    mono.add_argument("--test-data", type=Path, default=MONO_TEST_DATA,
                      help=f"folder of scene_* shards of test scenes (default: {MONO_TEST_DATA};"
                           " rendered there when missing)")
    mono.add_argument("--test-scenes", type=int, default=MONO_TEST_SCENES,
                      help=f"test scenes used (default: {MONO_TEST_SCENES})")
    mono.add_argument("--resolution", type=int, default=MONO_RESOLUTION,
                      help="short side the predictor resizes images to (default: "
                           f"{MONO_RESOLUTION}, the scale of the recipe's 128x160 training "
                           "crops; MonoDepthPredictor's own default is 256)")
    mono.add_argument("--repeats", type=int, default=10,
                      help="timed runs for the latency; the median is reported (default: 10)")
    mono.add_argument("--out", type=Path, default=Path("out/eval"),
                      help="folder for the picture (default: out/eval)")
    mono.add_argument("--figure", type=Path,
                      help=f"picture path (default: OUT/{MONO_FIGURE}; with --record "
                           f"docs/images/{MONO_FIGURE})")
    mono.add_argument("--notes", type=Path,
                      help="markdown file appended to the recorded section (analysis)")
    add_record_argument(mono, MONO_SECTION)
    mono.set_defaults(func=run_mono)


def mono_test_frames(folder: Path, scenes: int):
    """``[(rgb, depth)]`` of the first ``scenes`` test scenes (``TEST_SEEDS``) under ``folder``;
    scenes missing there are rendered (320x240, 4 walk-through frames, the seeds of
    ``edgegeo data render --seed 1000``) and written as shards first."""
    from edgegeo.data.splits import TEST_SEEDS
    from edgegeo.data.synthetic import generate_scene, read_shard, walkthrough, write_shard

    if scenes < 1:
        raise ValueError(f"--test-scenes must be >= 1, got {scenes}")
    frames = []
    for seed in TEST_SEEDS[:scenes]:
        shard = Path(folder) / f"scene_{seed:06d}"
        if not (shard / "meta.npz").is_file():
            height, width = MONO_TEST_SIZE
            write_shard(shard, walkthrough(generate_scene(seed), MONO_TEST_FRAMES, width, height,
                                           seed=seed * 1_000_003, progress=False))
        frames += [(frame.rgb, frame.depth) for frame in read_shard(shard)]
    return frames


def row_prior_disparity(height: int, width: int):
    """The image-row prior: disparity rising linearly from the top row to the bottom one
    (floor nearer at the bottom), ``(H, W) float32``."""
    import numpy as np

    return np.repeat(np.linspace(1.0, 2.0, height, dtype=np.float32)[:, None], width, axis=1)


def constant_depth_metrics(gt_depth, mask) -> dict:
    """Metrics of a constant disparity: the least-squares affine fit of a constant is the mean
    GT disparity (the scale is undetermined and irrelevant)."""
    import numpy as np

    from edgegeo.metrics.depth import depth_metrics

    mean_disparity = float(np.mean(1.0 / gt_depth[mask]))
    return depth_metrics(np.full(gt_depth.shape, 1.0 / mean_disparity, np.float32), gt_depth,
                         mask)


def _first_row(raw: dict, stage: str):
    """The first learned row whose label names ``stage`` (``"teacher"`` or ``"student"``,
    e.g. ``"CNN student (shipped)"``) and is not an ablation (``"… w/o …"``); None if none."""
    return next((row for label, row in raw.items()
                 if stage in label and "w/o" not in label and "_card" in row), None)


def _mono_models(args) -> list[tuple[str, Path]]:
    from edgegeo.weights_io import WEIGHTS_DIR

    if args.model:
        models = []
        for item in args.model:
            if "=" not in item:
                raise ValueError(f"--model {item!r} must look like LABEL=PATH")
            label, path = item.split("=", 1)
            models.append((label.strip(), Path(path)))
    else:
        shipped = WEIGHTS_DIR / "mono-depth.safetensors"
        student = args.weights or (shipped if shipped.is_file() else Path("runs/mono-depth/mono-depth.safetensors"))
        models = [(label, Path(path) if path else student) for label, path in MONO_MODELS]
    found = [(label, path) for label, path in models if path.is_file()]
    for label, path in models:
        if not path.is_file():
            print(f"skipped {label}: no weights at {path}")
    if not found:
        raise FileNotFoundError("no mono-depth weights to evaluate (train them with `edgegeo "
                                "train mono-depth`, or pass --weights/--model)")
    return found


def _median_latency_ms(network, repeats: int) -> float:
    import torch

    images = torch.rand(1, 3, *MONO_LATENCY_HW)
    with torch.inference_mode():
        _, seconds = median_time(lambda: network(images), repeats, warmup=1)
    return 1000 * seconds


def _mean(results: list[dict], key: str) -> float:
    import numpy as np

    return float(np.mean([r[key] for r in results]))


def run_mono(args) -> int:
    """``edgegeo eval mono``: evaluate, print, save the picture, record the section."""
    from edgegeo.bench_report import markdown_table, picture_path, write_section
    from edgegeo.data.middlebury import load_motorcycle
    from edgegeo.metrics.depth import relative_depth_metrics
    from edgegeo.models.mono_depth import MonoDepthPredictor
    from edgegeo.training.mono.model import load_network
    from edgegeo.weights_io import load_model_card

    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    models = _mono_models(args)
    test = mono_test_frames(args.test_data, args.test_scenes)
    sample = load_motorcycle()
    moto_depth, moto_valid = sample.depth(), sample.valid

    def evaluate(predict) -> dict:
        synthetic = [relative_depth_metrics(predict(rgb), depth, depth > 0)
                     for rgb, depth in test]
        moto_disparity = predict(sample.left)
        moto = relative_depth_metrics(moto_disparity, moto_depth, moto_valid)
        return {"synthetic AbsRel": _mean(synthetic, "abs_rel"),
                "synthetic δ1": _mean(synthetic, "a125"),
                "Motorcycle AbsRel": moto["abs_rel"], "Motorcycle δ1": moto["a125"],
                "_motorcycle": moto_disparity}

    rows, raw, predictions = [], {}, {}
    for label, path in models:
        network = load_network(path)
        predictor = MonoDepthPredictor(network, resolution=args.resolution)
        result = evaluate(predictor)
        card = load_model_card(path)
        predictions[label] = result.pop("_motorcycle")
        result.update({"params (M)": sum(p.numel() for p in network.parameters()) / 1e6,
                       "CPU latency 256×320 (ms)": _median_latency_ms(network, args.repeats),
                       "training (min)": card.get("wall_time_s", float("nan")) / 60,
                       "_card": card, "_path": str(path)})
        raw[label] = result
        print(f"{label}: {path}", flush=True)

    # Trivial baselines.
    constant = [constant_depth_metrics(depth, depth > 0) for _, depth in test]
    moto_constant = constant_depth_metrics(moto_depth, moto_valid)
    raw["constant disparity"] = {
        "synthetic AbsRel": _mean(constant, "abs_rel"), "synthetic δ1": _mean(constant, "a125"),
        "Motorcycle AbsRel": moto_constant["abs_rel"], "Motorcycle δ1": moto_constant["a125"]}
    raw["row prior (disparity ∝ row)"] = evaluate(
        lambda rgb: row_prior_disparity(*rgb.shape[:2]))
    raw["row prior (disparity ∝ row)"].pop("_motorcycle")

    for label, result in raw.items():
        row = {"method": label}
        for column in MONO_COLUMNS[1:]:
            value = result.get(column)
            if value is None:
                row[column] = "—"
            elif column in ("params (M)",):
                row[column] = f"{value:.2f}"
            elif column in ("CPU latency 256×320 (ms)", "training (min)"):
                row[column] = f"{value:.0f}" if column.startswith("CPU") else f"{value:.1f}"
            else:
                row[column] = f"{value:.3f}"
        rows.append(row)
    table = markdown_table(rows, MONO_COLUMNS)
    print(f"\n{len(test)} synthetic test frames ({args.test_scenes} TEST_SEEDS scenes), "
          f"Motorcycle {sample.left.shape[1]}x{sample.left.shape[0]} "
          f"({int(moto_valid.sum())} GT pixels), predictor short side {args.resolution}\n\n"
          f"{table}")
    figure = save_mono_figure(args.figure or picture_path(MONO_FIGURE, args.out, args.record),
                              sample, predictions)
    print(f"\npicture: {figure} ({figure.stat().st_size // 1024} KB)")
    if args.record:
        notes = Path(args.notes).read_text() if args.notes else ""
        path = write_section(MONO_SECTION, "Monocular depth (Depth Anything teacher → student)",
                             _mono_section_body(args, len(test), sample, table, raw, figure,
                                                notes))
        print(f"recorded: {path} [{MONO_SECTION}]")
    return 0


def save_mono_figure(path: Path, sample, predictions: dict) -> Path:
    """Motorcycle left image, GT disparity, and every learned model's prediction but the
    ablations' (``"… w/o …"`` rows), each least-squares aligned (scale + shift) to the GT
    disparity and drawn on its colour scale; 2 columns, scaled down until the PNG is under
    ``FIGURE_MAX_BYTES``."""
    import cv2
    import numpy as np

    from edgegeo.metrics.depth import align_scale_shift
    from edgegeo.viz import colorize, image_grid, save_png

    low, high = (float(v) for v in np.percentile(sample.disparity[sample.valid], [1, 99]))
    images = [sample.left.copy(), colorize(sample.disparity, low, high)]
    labels = ["Motorcycle left", "GT disparity"]
    for label, disparity in predictions.items():
        if "w/o" in label:                                  # the ablations
            continue
        scale, shift = align_scale_shift(disparity, sample.disparity, sample.valid)
        images.append(colorize(scale * disparity + shift, low, high, invalid=None))
        labels.append(f"{label} (aligned)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for scale in FIGURE_SCALES:                 # the largest that keeps the file small
        size = (round(sample.left.shape[1] * scale), round(sample.left.shape[0] * scale))
        tiles = [cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in images]
        save_png(path, image_grid(tiles, list(labels), ncols=2))
        if path.stat().st_size <= FIGURE_MAX_BYTES:
            break
    return path


def _mono_section_body(args, frame_count: int, sample, table: str, raw: dict, figure: Path,
                       notes: str) -> str:
    import os

    from edgegeo.bench_report import link

    lines = [
        f"Held-out synthetic scenes: {frame_count} frames of the first {args.test_scenes} "
        f"`TEST_SEEDS` scenes ({MONO_TEST_SIZE[1]}×{MONO_TEST_SIZE[0]}, `{args.test_data}`); "
        f"Middlebury 2014 *Motorcycle* left image ({sample.left.shape[1]}×"
        f"{sample.left.shape[0]}, evaluation-only), GT depth = baseline·f/(d + doffs) on the "
        f"{int(sample.valid.sum())} GT pixels. Every method's disparity is aligned to the GT "
        "disparity (1/depth) by a per-image least-squares scale + shift, then AbsRel and δ1 "
        "(δ < 1.25) are computed on depth (`relative_depth_metrics`); synthetic numbers are means "
        f"over frames. Models run through `MonoDepthPredictor` with short side "
        f"{args.resolution}. Latency: median of {args.repeats} forward passes of a 256×320 "
        f"tensor, torch CPU, {_torch_threads()} threads. Training: wall time of the stage from "
        "its model card.",
        "",
        table,
        "",
        f"![Motorcycle: left, GT disparity, teacher, student]"
        f"({link(figure)})",
        "",
    ]
    for label, result in raw.items():
        if "_card" in result:
            card = result["_card"]
            lines.append(f"- {label}: `{os.path.relpath(result['_path'])}` — "
                         f"`{card.get('command')}` "
                         f"({card.get('steps')} steps, {card.get('wall_time_s', 0) / 60:.1f} min)")
    teacher, student = _first_row(raw, "teacher"), _first_row(raw, "student")
    if teacher and student:
        gain = teacher["Motorcycle AbsRel"] - student["Motorcycle AbsRel"]
        verdict = ("holds here" if gain > CLAIM_MARGIN else
                   "does **not** hold here" if gain < -CLAIM_MARGIN else
                   f"is not clearly reproduced here (the AbsRel difference is under "
                   f"{CLAIM_MARGIN:g}, on one image)")
        lines += ["", f"On the real image the student's AbsRel is "
                      f"{student['Motorcycle AbsRel']:.3f} against the teacher's "
                      f"{teacher['Motorcycle AbsRel']:.3f} (δ1 {student['Motorcycle δ1']:.3f} vs "
                      f"{teacher['Motorcycle δ1']:.3f}): the paper's claim that the student "
                      f"beats its teacher on real images {verdict}."]
    if notes.strip():
        lines += ["", notes.strip()]
    return "\n".join(lines)


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()
