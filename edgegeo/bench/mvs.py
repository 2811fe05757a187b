"""``edgegeo bench mvs``: multi-view depth and fused meshes on held-out synthetic walk-throughs.

Protocol. Scenes ``TEST_SEEDS[:scenes]`` are rendered on the fly as hand-held walk-throughs
(walk-through seed = scene seed × 1 000 003 as ``edgegeo data render``; 0.35 m/s at ``fps``) at
the first model's working resolution. Each ``mvs`` model runs through :class:`MVSStream` as at
test time (DeepVideoMVS keyframes, depth for keyframes once ``min_sources`` are buffered, the
keyframes before that backfilled from the later ones):

* **depth** — :func:`edgegeo.metrics.depth.depth_metrics` of every predicted frame (GT up to
  :data:`~edgegeo.models.mvs.config.EVAL_MAX_DEPTH`), averaged over those frames;
* **mesh** — the predicted depth maps TSDF-fused (:class:`~edgegeo.fusion.TSDFFusion`
  defaults: 4 cm voxels, 12 cm truncation, 3 m max depth) and compared with the scene's GT
  surface where the cameras saw it (:func:`~edgegeo.data.visibility.visible_surface_points`
  of all frames, up to 3 m) by :func:`~edgegeo.metrics.mesh.mesh_metrics` (5 cm threshold);
  the GT depth of all frames fused the same way is the reference row;
* **latency** — wall time per predicted frame, split by forward hooks on the model's own
  modules: *cost volume* = matching encoder (all views) + plane sweep + metadata MLP,
  *network* = image encoder + U-Net, *other* = the rest of the predictor call (resizing,
  source selection, the ½-resolution local volume of ``model=local``, the planar prior and
  photometric refinement), *fusion* = TSDF integration; medians over frames. A model run on
  ONNX Runtime or TensorRT (``NAME=PATH:onnxruntime-fp32``) has one graph: *network* is the
  whole graph (its cost volume included), timed around the graph call.

An optional mono-depth model predicts affine-invariant disparity for the same frames as the
first ``mvs`` model; each map is aligned to the GT by a least-squares scale + shift in inverse
depth (an oracle alignment: it uses the GT), clamped at ``1 / EVAL_MAX_DEPTH``, then scored and
fused like the others.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from edgegeo.data.splits import TEST_SEEDS, check_seeds
from edgegeo.data.synthetic.scene import SURFACE_KINDS
from edgegeo.models.mvs.config import EVAL_MAX_DEPTH

RIG_SEED_FACTOR = 1_000_003      # walk-through seed = scene seed × this (`edgegeo data render`)
MESH_THRESHOLD = 0.05            # metres, precision / recall / F-score
GT_LABEL = "GT depth"
PARTS = ("cost volume", "network", "other", "fusion")


@dataclass
class Method:
    """A depth source under test: ``kind`` ``"mvs"`` (an :class:`MVSPredictor`) or ``"mono"``
    (a :class:`MonoDepthPredictor`), its weights file, model card, parameter count and the
    backend its network runs on (``"torch"`` or ``"<runtime>-<precision>"``, e.g.
    ``"onnxruntime-fp32"``)."""

    label: str
    kind: str
    path: Path
    predictor: Any
    card: dict
    params: int
    backend: str = "torch"


@dataclass
class MethodResult:
    """What the benchmark measured for one depth source, pooled over scenes.

    Attributes:
        frame_metrics: :func:`depth_metrics` dict of every frame with depth.
        frames_predicted, frames_total: frames with depth, and all frames seen.
        mesh_metrics: :func:`mesh_metrics` dict per scene (``nan`` distances, 0 scores where
            nothing was fused).
        times: per predicted frame, seconds of each of :data:`PARTS` present.
        surfaces: per kind of surface (:data:`SURFACE_KINDS` rows), summed over the predicted
            frames' GT pixels: ``[pixels, pixels with depth, of those within 2 % of the GT,
            within 5 %, the sum of their relative errors]``.
    """

    label: str
    kind: str
    params: int = 0
    frame_metrics: list[dict] = field(default_factory=list)
    frames_predicted: int = 0
    frames_total: int = 0
    mesh_metrics: list[dict] = field(default_factory=list)
    times: list[dict] = field(default_factory=list)
    surfaces: np.ndarray = field(default_factory=lambda: np.zeros((len(SURFACE_KINDS), 5)))

    def add_surfaces(self, depth: np.ndarray, gt: np.ndarray, kinds: np.ndarray) -> None:
        """Add one frame to :attr:`surfaces`: ``depth`` and ``gt`` ``(H, W)`` metres (0 = none),
        ``kinds`` ``(H, W)`` indices into :data:`SURFACE_KINDS`."""
        from edgegeo.metrics.depth import gt_depth_valid

        valid = gt_depth_valid(gt, max_depth=EVAL_MAX_DEPTH)
        kept = valid & (depth > 0)
        error = np.abs(depth[kept] / gt[kept] - 1.0)
        count = partial(np.bincount, minlength=len(SURFACE_KINDS))
        self.surfaces[:, 0] += count(kinds[valid])
        for row, values in enumerate((np.ones_like(error), error < 0.02, error < 0.05, error), 1):
            self.surfaces[:, row] += count(kinds[kept], values.astype(float))

    def mean(self, key: str) -> float:
        """Mean of a depth metric over the predicted frames (nan if none)."""
        values = [m[key] for m in self.frame_metrics]
        return float(np.mean(values)) if values else float("nan")

    def mesh_mean(self, key: str) -> float:
        """Mean of a mesh metric over the scenes: distances over those where something was
        fused (nan if none), scores over all (0 where nothing was)."""
        values = [m[key] for m in self.mesh_metrics if np.isfinite(m[key])]
        return float(np.mean(values)) if values else float("nan")

    def median_ms(self, part: str) -> float:
        """Median milliseconds per predicted frame of one part, or of their sum for
        ``"total"`` (nan if not measured)."""
        if part == "total":
            values = [sum(t.values()) for t in self.times]
        else:
            values = [t[part] for t in self.times if part in t]
        return 1000 * float(np.median(values)) if values else float("nan")


class ModuleTimer:
    """Seconds spent inside named submodules, accumulated from forward pre/post hooks.

    Args:
        modules: ``{name: nn.Module}``; a module called several times adds up.
        synchronize: called before each clock reading (``torch.cuda.synchronize`` on a GPU).
    """

    def __init__(self, modules: dict, synchronize: Callable[[], None] | None = None):
        self.seconds = dict.fromkeys(modules, 0.0)
        self._started: dict[str, float] = {}
        self._synchronize = synchronize or (lambda: None)
        self._handles = []
        for name, module in modules.items():
            self._handles.append(module.register_forward_pre_hook(partial(self._enter, name)))
            self._handles.append(module.register_forward_hook(partial(self._leave, name)))

    def _enter(self, name, module, args) -> None:
        self._synchronize()
        self._started[name] = time.perf_counter()

    def _leave(self, name, module, args, output) -> None:
        self._synchronize()
        self.seconds[name] += time.perf_counter() - self._started.pop(name)

    def reset(self) -> None:
        self.seconds = dict.fromkeys(self.seconds, 0.0)

    def remove(self) -> None:
        """Detach the hooks."""
        for handle in self._handles:
            handle.remove()


class GraphTimer:
    """Seconds spent in an exported network's graph calls (``seconds["network"]``), the
    :class:`ModuleTimer` interface for a :class:`~edgegeo.export.runtime.RuntimeNetwork`: its
    ``run_all`` is wrapped on the instance until :meth:`remove`."""

    def __init__(self, network):
        self.seconds = {"network": 0.0}
        self._network = network
        run_all = network.run_all

        def timed(*tensors):
            start = time.perf_counter()
            try:
                return run_all(*tensors)
            finally:
                self.seconds["network"] += time.perf_counter() - start

        network.run_all = timed

    def reset(self) -> None:
        self.seconds = {"network": 0.0}

    def remove(self) -> None:
        """Restore the network's own ``run_all``."""
        del self._network.run_all


def load_methods(weights: list[tuple], mono: Path | None = None, device: str = "cpu",
                 min_sources: int | None = None) -> list[Method]:
    """The depth sources to benchmark, via :func:`edgegeo.load`.

    Args:
        weights: ``(label, path, resolution, backend)`` of each ``mvs`` weights file (model
            card beside it); ``resolution`` ``(H, W)`` overrides the card's working resolution
            (None: the card's); ``backend`` ``"torch"`` or
            ``"<onnxruntime|tensorrt>-<fp32|fp16|int8>"`` (the network exported at that
            resolution, :func:`edgegeo.export.runtime_network`).
        mono: ``mono-depth`` weights, or None.
        min_sources: fewest keyframe sources an ``mvs`` stream predicts with (None: each
            model's ``num_sources``).
    Raises:
        ValueError: no ``mvs`` weights, repeated labels, a resolution the predictor refuses
            (not multiples of 32), an unknown backend; FileNotFoundError: a missing file.
    """
    import edgegeo
    from edgegeo.api import BACKENDS, PRECISIONS
    from edgegeo.weights_io import load_model_card

    if not weights:
        raise ValueError("the mvs benchmark needs at least one mvs weights file")
    labels = [entry[0] for entry in weights] + (["mono"] if mono else [])
    if len(set(labels)) != len(labels) or GT_LABEL in labels:
        raise ValueError(f"labels must be distinct and not {GT_LABEL!r}, got {labels}")
    entries = [(label, "mvs", Path(path), resolution, backend)
               for label, path, resolution, backend in weights]
    if mono:
        entries.append(("mono", "mono", Path(mono), None, "torch"))
    methods = []
    for label, kind, path, resolution, backend in entries:
        runtime, _, precision = backend.partition("-")
        if backend != "torch" and (runtime not in BACKENDS or runtime == "torch"
                                   or precision not in PRECISIONS):
            raise ValueError(f"{label}: unknown backend {backend!r}; use torch or "
                             "onnxruntime|tensorrt-fp32|fp16|int8 (e.g. onnxruntime-fp32)")
        if not path.is_file():
            raise FileNotFoundError(f"{label}: no weights file {path} (train it with `edgegeo "
                                    f"train {'mvs' if kind == 'mvs' else 'mono-depth'}`)")
        options = ({"min_sources": min_sources} if kind == "mvs" and min_sources is not None
                   else {})
        if resolution is not None:
            options["resolution"] = tuple(resolution)
        if backend != "torch":
            options.update(backend=runtime, precision=precision)
        predictor = edgegeo.load("mvs" if kind == "mvs" else "mono-depth", weights=path,
                                 device=device, **options)
        card = load_model_card(path, missing_ok=True)
        params = (sum(p.numel() for p in predictor.model.parameters()) if backend == "torch"
                  else int(card.get("num_parameters", 0)))
        methods.append(Method(label, kind, path, predictor, card, params, backend))
    return methods


def held_out_walkthrough(seed: int, frames: int, size: tuple[int, int], fps: float):
    """``(scene, frames)``: held-out scene ``seed`` (a ``TEST_SEEDS`` seed) and its rendered
    walk-through of ``frames`` Frames at ``size = (H, W)``."""
    from edgegeo.data.synthetic import generate_scene, walkthrough

    check_seeds([seed], TEST_SEEDS, "the mvs benchmark")
    scene = generate_scene(seed)
    height, width = size
    return scene, walkthrough(scene, frames, width, height, seed=seed * RIG_SEED_FACTOR, fps=fps,
                              progress=False)


def align_mono_depth(disparity: np.ndarray, gt: np.ndarray,
                     max_depth: float = EVAL_MAX_DEPTH) -> np.ndarray:
    """Metric depth from relative disparity by the least-squares scale + shift that best maps
    it onto the GT inverse depth (GT pixels in ``(0, max_depth]``).

    Args:
        disparity: ``(H, W)`` affine-invariant disparity (larger = nearer).
        gt: ``(H, W) float32`` GT depth in metres (0 = none).
    Returns:
        ``(H, W) float32`` depth in metres, ``1 / max(s · disparity + t, 1 / max_depth)``.
    """
    from edgegeo.metrics.depth import align_scale_shift, gt_depth_valid

    valid = gt_depth_valid(gt, max_depth=max_depth) & np.isfinite(disparity)
    target = np.where(valid, 1.0 / np.where(valid, gt, 1.0), 0.0)
    scale, shift = align_scale_shift(disparity, target, valid)
    aligned = np.maximum(scale * np.nan_to_num(disparity.astype(np.float64)) + shift,
                         1.0 / max_depth)
    return (1.0 / aligned).astype(np.float32)


def _stream(method: Method, frames: list) -> tuple[dict[int, np.ndarray], list[dict]]:
    """Depth of the frames an :class:`MVSStream` predicts (the keyframes it backfills
    included), and the timing of each (a hinted model's hint rendering and fusion count as
    "other")."""
    import torch

    from edgegeo.models.mvs.predictor import MVSStream

    model = method.predictor.model
    on_gpu = method.predictor.device.type == "cuda"
    if method.backend == "torch":
        timer = ModuleTimer({"matching": model.matching_encoder,
                             "cost_volume": model.cost_volume, "network": model.network},
                            torch.cuda.synchronize if on_gpu else None)
    else:
        timer = GraphTimer(model)
    stream = MVSStream(method.predictor)
    depths, times = {}, []
    try:
        for index, frame in enumerate(frames):
            timer.reset()
            start = time.perf_counter()
            depth = stream.push(frame)
            total = time.perf_counter() - start
            if depth is None:
                continue
            parts = timer.seconds
            depths[index] = depth
            depths.update({earlier: d for earlier, _, d in stream.last_backfill})
            # a push that also gave earlier keyframes depth (the stream's backfill) ran the
            # predictor once per map: each gets an equal share of its time
            maps = 1 + len(stream.last_backfill)
            shares = {"network": parts["network"], "other": total - sum(parts.values())}
            if "cost_volume" in parts:
                shares["cost volume"] = parts["matching"] + parts["cost_volume"]
            times += [{part: value / maps for part, value in shares.items()}
                      for _ in range(maps)]
    finally:
        timer.remove()
    return depths, times


def _mono(method: Method, frames: list, indices: list[int]
          ) -> tuple[dict[int, np.ndarray], list[dict]]:
    """Aligned mono depth of ``frames[indices]`` and the predictor's time for each."""
    depths, times = {}, []
    for index in indices:
        start = time.perf_counter()
        disparity = method.predictor(frames[index].rgb)
        times.append({"network": time.perf_counter() - start})
        depths[index] = align_mono_depth(disparity, frames[index].depth)
    return depths, times


def _fuse(frames: list, depths: dict[int, np.ndarray]):
    """TSDF-fuse ``depths`` (frame index → depth) with the default :class:`FusionConfig`;
    returns the mesh and the seconds per frame."""
    from edgegeo.fusion import TSDFFusion

    fusion = TSDFFusion()
    seconds = [fusion.integrate(depth, frames[i].K, frames[i].world_T_cam, frames[i].rgb)
               for i, depth in sorted(depths.items())]
    return fusion.extract_mesh(), seconds


def _mesh_scores(mesh, visible, n_points: int, seed: int) -> dict[str, float]:
    from edgegeo.metrics.mesh import mesh_metrics

    if not mesh.has_triangles():
        nan = float("nan")
        return {"accuracy": nan, "completeness": nan, "chamfer": nan, "precision": 0.0,
                "recall": 0.0, "fscore": 0.0}
    return mesh_metrics(mesh, visible, MESH_THRESHOLD, n_points, seed)


@dataclass
class SceneOutputs:
    """What the pictures need from one scene: its frames, GT mesh, and per depth source the
    depth maps (frame index → ``(H, W) float32`` m) and the fused mesh."""

    frames: list
    gt_mesh: Any
    depths: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    meshes: dict[str, Any] = field(default_factory=dict)


def run_benchmark(methods: list[Method], scenes: int = 4, frames: int = 60, fps: float = 5.0,
                  mesh_points: int = 200_000, progress: bool = True
                  ) -> tuple[list[MethodResult], SceneOutputs, dict]:
    """Run the protocol of the module docstring.

    Args:
        methods: from :func:`load_methods` (the first must be an ``mvs`` model: its working
            resolution is the render size and its predicted frames are the mono model's).
        scenes, frames: walk-throughs (``TEST_SEEDS[:scenes]``) and frames in each.
        fps: frame rate of the walk-throughs (0.35 m/s: 7 cm between frames at 5 fps).
        mesh_points: GT surface points and samples on each fused mesh.
        progress: show a progress bar over the scenes.
    Returns:
        ``(results, outputs, info)``: one :class:`MethodResult` per method after the GT-depth
        reference row; the :class:`SceneOutputs` of the first scene (for pictures); ``info``
        (seeds, size, frame counts).
    Raises:
        ValueError: bad counts, or an ``mvs`` model that predicted no frame at all.
    """
    from tqdm import tqdm

    from edgegeo.data.visibility import visible_surface_points
    from edgegeo.fusion import FusionConfig

    if scenes < 1 or frames < 2 or not fps > 0 or mesh_points < 1:
        raise ValueError(f"need scenes >= 1, frames >= 2, fps > 0 and mesh_points >= 1, got "
                         f"{scenes}, {frames}, {fps}, {mesh_points}")
    if not methods or methods[0].kind != "mvs":
        raise ValueError("the first method must be an mvs model (it sets the resolution)")
    size = tuple(methods[0].predictor.resolution)
    seeds = list(TEST_SEEDS[:scenes])
    results = [MethodResult(GT_LABEL, "gt")] + [MethodResult(m.label, m.kind, m.params)
                                                for m in methods]
    first = None
    for seed in tqdm(seeds, desc="mvs bench", unit="scene", disable=not progress):
        scene, walk = held_out_walkthrough(seed, frames, size, fps)
        visible = visible_surface_points(scene.mesh, walk, n_points=mesh_points,
                                         max_depth=FusionConfig().max_depth, seed=seed)
        outputs = SceneOutputs(walk, scene.mesh)
        gt_depths = {i: frame.depth for i, frame in enumerate(walk)}
        outputs.depths[GT_LABEL], outputs.meshes[GT_LABEL] = gt_depths, _fuse(walk, gt_depths)[0]
        results[0].mesh_metrics.append(_mesh_scores(outputs.meshes[GT_LABEL], visible,
                                                    mesh_points, seed))
        reference: list[int] = []
        for method, result in zip(methods, results[1:]):
            if method.kind == "mvs":
                depths, times = _stream(method, walk)
                if method is methods[0]:
                    reference = sorted(depths)
            else:
                depths, times = _mono(method, walk, reference)
            mesh, seconds = _fuse(walk, depths)            # both in frame order
            for timing, fused in zip(times, seconds):
                timing["fusion"] = fused
            outputs.depths[method.label], outputs.meshes[method.label] = depths, mesh
            result.times += times
            result.frames_predicted += len(depths)
            result.frames_total += len(walk)
            result.frame_metrics += [_depth_scores(depth, walk[i].depth)
                                     for i, depth in sorted(depths.items())]
            for i, depth in depths.items():
                result.add_surfaces(depth, walk[i].depth, scene.surface_kinds(walk[i].instance))
            result.mesh_metrics.append(_mesh_scores(mesh, visible, mesh_points, seed))
        first = first or outputs
    for result in results[1:]:
        if result.kind == "mvs" and not result.frames_predicted:
            raise ValueError(f"{result.label}: the stream predicted no frame in {scenes} x "
                             f"{frames} frames (too few keyframes: use more --frames, or "
                             "--min-sources)")
    info = {"seeds": seeds, "size": size, "frames": frames, "fps": fps,
            "mesh_points": mesh_points, "scenes": scenes}
    return results, first, info


def _depth_scores(depth: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    from edgegeo.metrics.depth import depth_metrics

    return depth_metrics(depth, gt, max_depth=EVAL_MAX_DEPTH)


def _cell(value: float, digits: int, scale: float = 1.0) -> str:
    return "—" if not np.isfinite(value) else f"{scale * value:.{digits}f}"


def tables(results: list[MethodResult]) -> dict[str, str]:
    """Markdown tables ``depth``, ``mesh``, ``speed`` and ``surfaces`` (the first mvs
    model's depth per kind of surface; empty without one) of the results (see
    :func:`report_body` for the columns)."""
    from edgegeo.bench_report import markdown_table

    depth_rows = [{"depth source": r.label,
                   "frames with depth": f"{r.frames_predicted}/{r.frames_total}",
                   "AbsRel": _cell(r.mean("abs_rel"), 4), "δ<1.05": _cell(r.mean("a105"), 3),
                   "δ<1.25": _cell(r.mean("a125"), 3), "RMSE (m)": _cell(r.mean("rmse"), 3),
                   "density": _cell(r.mean("density"), 3)}
                  for r in results if r.kind != "gt"]
    mesh_rows = []
    for r in results:
        meshed = sum(np.isfinite(m["accuracy"]) for m in r.mesh_metrics)
        mesh_rows.append({
            "depth fused": r.label, "acc. (cm)": _cell(r.mesh_mean("accuracy"), 2, 100),
            "comp. (cm)": _cell(r.mesh_mean("completeness"), 2, 100),
            "chamfer (cm)": _cell(r.mesh_mean("chamfer"), 2, 100),
            "precision": _cell(r.mesh_mean("precision"), 3),
            "recall": _cell(r.mesh_mean("recall"), 3),
            "F-score@5cm": _cell(r.mesh_mean("fscore"), 3),
            "scenes meshed": f"{meshed}/{len(r.mesh_metrics)}"})
    speed_rows = [{"depth source": r.label, "params (M)": f"{r.params / 1e6:.3f}",
                   **{f"{part} (ms)": _cell(r.median_ms(part), 1) for part in PARTS},
                   "total (ms)": _cell(r.median_ms("total"), 1)}
                  for r in results if r.kind != "gt"]
    first = next((r for r in results if r.kind == "mvs"), None)
    surface_rows = []
    if first is not None:
        pixels, kept, within2, within5, error = first.surfaces.T
        for kind, n, k, w2, w5, e in zip(SURFACE_KINDS, pixels, kept, within2, within5, error):
            if n:
                surface_rows.append({
                    "surface": kind, "share of GT pixels": f"{n / pixels.sum():.2f}",
                    "with depth": f"{k / n:.2f}",
                    "within 2 %": _cell(w2 / k if k else np.nan, 2),
                    "within 5 %": _cell(w5 / k if k else np.nan, 2),
                    "AbsRel": _cell(e / k if k else np.nan, 4)})
    return {"depth": markdown_table(depth_rows), "mesh": markdown_table(mesh_rows),
            "speed": markdown_table(speed_rows),
            "surfaces": markdown_table(surface_rows) if surface_rows else ""}


def report_body(results: list[MethodResult], info: dict, methods: list[Method],
                pictures: list[tuple[str, str]], min_sources: int | None,
                device: str) -> str:
    """The ``mvs`` section of docs/benchmarks.md: protocol, the tables, the weights and links
    to the pictures (``(caption, path relative to the page)``)."""
    import torch

    from edgegeo.fusion import FusionConfig

    fusion = FusionConfig()
    height, width = info["size"]
    seeds = info["seeds"]
    table = tables(results)
    counts = sorted({m.predictor.min_sources for m in methods if m.kind == "mvs"})
    if min_sources is not None:
        counts = [min_sources]
    sources = (f"{counts[0]} source{'s' if counts[0] > 1 else ''}" if len(counts) == 1
               else "each model's `min_sources` (its card's) sources")
    plural = "s" if info["scenes"] > 1 else ""
    lines = [
        f"{info['scenes']} held-out walk-through{plural} (scene seeds {seeds[0]}–{seeds[-1]} of "
        f"`TEST_SEEDS`), {info['frames']} frames each at {info['fps']:g} fps (0.35 m/s), "
        f"rendered at {width}×{height} (the first model's working resolution). Every mvs "
        "model runs through `MVSStream`: DeepVideoMVS keyframes (pose distance ≥ 0.1), depth "
        f"for keyframes once the buffer holds {sources}, and then for the keyframes before "
        "that, from the later ones (the stream's backfill); other frames are skipped (*frames "
        "with depth*).",
        "",
        f"**Depth** — means over the frames with depth of `depth_metrics` (GT up to "
        f"{EVAL_MAX_DEPTH:g} m; δ = fraction of pixels with max(p/g, g/p) below the bound; "
        "errors over the pixels with a prediction, density = their fraction of the GT pixels: "
        "below 1 where a model leaves low-confidence pixels out).",
        "",
        table["depth"],
        "",
        f"**Mesh** — the depth maps TSDF-fused (`TSDFFusion` defaults: voxel "
        f"{100 * fusion.voxel_size:g} cm, truncation {100 * fusion.trunc:g} cm, max depth "
        f"{fusion.max_depth:g} m) against the GT surface the cameras of all frames saw within "
        f"{fusion.max_depth:g} m (`visible_surface_points`, ≤ {info['mesh_points']} points; "
        f"as many samples on each fused mesh); accuracy = mean fused→GT distance, "
        f"completeness = mean GT→fused, precision / recall / F-score at "
        f"{100 * MESH_THRESHOLD:g} cm; means over scenes (distances over the scenes where "
        f"something was fused). {GT_LABEL}: the GT depth of all frames, fused the same way.",
        "",
        table["mesh"],
        "",
        f"**Speed** — medians per frame with depth, torch on {device}, "
        f"{torch.get_num_threads()} CPU thread(s) (forward hooks on the model's modules): cost "
        "volume = matching encoder over the reference and its sources + plane sweep + scores "
        "(metadata MLP, or dot / cosine / correlation); network = image encoder + U-Net (+ "
        "soft-argmin and refinement for the planes design); other = the rest of the predictor "
        "call (resizing, source selection, the ½-resolution local volume where the model "
        "has one, and the planar prior and photometric refinement where its card turns them "
        "on); fusion = TSDF integration. Parameters of the whole network. A model on ONNX "
        "Runtime or TensorRT runs one exported graph: its network time is the whole graph "
        "(cost volume and local volume included), timed around the graph call.",
        "",
        table["speed"],
        "",
    ]
    if table["surfaces"]:
        lines += [
            f"**By kind of surface** — the depth maps of {methods[0].label} split by the kind "
            "of surface each GT pixel shows (the scene's instance ids: floor, walls, ceiling, "
            "the rest of the building, objects), pooled over the frames with depth: the share "
            "of the GT pixels, the fraction of them with depth, and of those the fraction "
            "within 2 % and 5 % of the GT (|p/g − 1|) and the mean relative error.", "",
            table["surfaces"], ""]
    if any(m.kind == "mono" for m in methods):
        lines += [f"mono: the mono-depth model on the frames where {methods[0].label} has "
                  "depth, its disparity aligned to each frame's GT inverse depth by a "
                  "least-squares scale + shift (an oracle alignment, using the GT), clamped at "
                  f"1/{EVAL_MAX_DEPTH:g} m⁻¹; its time is the whole predictor call.", ""]
    for method in methods:
        card = method.card
        smoke = " **smoke run**" if card.get("smoke") else ""
        trained = f" — `{card['command']}`" if "command" in card else ""
        if "steps" in card:
            trained += f", {card['steps']} steps, {card.get('wall_time_s', 0) / 60:.0f} min"
        at = ""
        if method.kind == "mvs":
            height, width = method.predictor.resolution
            at = f" at {width}×{height}"
        if method.backend != "torch":
            runtime, _, precision = method.backend.partition("-")
            at += (f" on {'ONNX Runtime' if runtime == 'onnxruntime' else 'TensorRT'} "
                   f"{precision}")
        lines.append(f"- {method.label}: `{method.path}`{at}{trained}{smoke}")
    if pictures:
        lines.append("")
        lines += [f"![{caption}]({path})" for caption, path in pictures]
    return "\n".join(lines)
