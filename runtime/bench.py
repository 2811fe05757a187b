"""``edgegeo bench runtime``: the streaming runtime measured on this machine.

Every pipeline (``gt``, ``mono``, ``stereo``, ``mvs``) runs at its default resolution (the
synthetic sources' 256×192, the model options ``edgegeo run`` uses) with TSDF fusion, on each
inference backend asked for (``torch``, ``onnxruntime-fp32``, ``onnxruntime-int8``, ...), built
as ``edgegeo run --fuse`` builds it (:func:`~edgegeo.runtime.assembly.assemble_run`: the
device profile's queue size, fusion parameters and memory budget). Frames are rendered before
any timing (a walk-through of the held-out scene ``TEST_SEEDS[0]``; rectified pairs of the same
room for ``stereo``) and replayed as fast as the pipeline takes them, so the renderer is not
what is measured. Per pipeline and backend:

1. **Load** the model (``edgegeo.load``); on an exported backend the first load exports it into
   the artefact cache (``$EDGEGEO_CACHE``): timed and reported on its own, never in the stream.
2. **Warm up**: the stages called on the first :data:`WARMUP_FRAMES` frames (first-call costs:
   allocations, ONNX Runtime's graph set-up).
3. **Stages back to back**: the same stages called one after the other on every frame in one
   thread (no queues, no threads) — the sum of the stage times per frame.
4. **Streamed**: the frames through the runtime (:class:`~edgegeo.runtime.pipeline.Pipeline`);
   its own statistics give the throughput, end-to-end and per-stage latency (median / p95,
   ``stats.json`` under ``out``).

The runtime's overhead is its wall time per frame against the stages back to back, both
measured in steady state (from the first frame done to the last). Negative: the runtime's
threads overlap stages on several cores. The runtime also reports, per frame, the time spent
outside stage work and queue waits (hand-offs between threads, bookkeeping).

Fusion quality (``gt``): the mesh fused while streaming against
:class:`~edgegeo.fusion.TSDFFusion` fed the same frames directly, both scored against
the scene's surface the cameras saw (F-score @ 5 cm): the same frames in the same order must
give the same number.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from edgegeo.data.splits import TEST_SEEDS

from .backends import PIPELINE_MODELS, pipeline_model_options
from .assembly import PIPELINES, RunSpec, assemble_run
from .packet import BadFrame, Packet
from .sources.base import Source, SourceRecord

BACKENDS = ("torch",) + tuple(f"{backend}-{precision}" for backend in ("onnxruntime", "tensorrt")
                              for precision in ("fp32", "fp16", "int8"))
DEFAULT_BACKENDS = ("torch", "onnxruntime-fp32", "onnxruntime-int8")
SEED = TEST_SEEDS[0]              # held-out scene (and walk-through) seed
WARMUP_FRAMES = 10                # frames through the stages before anything is timed
F_SCORE_THRESHOLD = 0.05          # metres


@dataclass(frozen=True)
class BenchConfig:
    """What ``edgegeo bench runtime`` measures.

    Attributes:
        frames: frames streamed per pipeline and backend (≥ 2).
        pipelines: of :data:`~edgegeo.runtime.assembly.PIPELINES`, in order.
        backends: of :data:`BACKENDS` (``torch``, ``<onnxruntime|tensorrt>-<precision>``);
            the model pipelines run on each, ``gt`` has no model.
        size: ``(width, height)`` of the rendered frames, pixels.
        weights_dir: where ``<model>.safetensors`` (and its card) are looked for; None = the
            shipped ``edgegeo/weights``. A model without weights gets a "not shipped" row.
        out: folder for each run's ``stats.json`` (``gt/``, ``<pipeline>-<backend>/``).
        device_profile: device profile (``edgegeo run --device-profile``): queue size, fusion
            parameters, memory budget, mono-depth resolution.
        mesh_points: points sampled on the seen ground-truth surface and on each mesh.
    Raises:
        ValueError: a bad value (the message names the option).
        FileNotFoundError: ``weights_dir`` is not a folder.
    """

    frames: int = 60
    pipelines: tuple[str, ...] = PIPELINES
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    size: tuple[int, int] = (256, 192)
    weights_dir: str | None = None
    out: str = "out/bench-runtime"
    device_profile: str = "auto"
    mesh_points: int = 100_000

    def __post_init__(self):
        if self.frames < 2:
            raise ValueError(f"--frames must be >= 2, got {self.frames}")
        if self.mesh_points < 1:
            raise ValueError(f"--mesh-points must be >= 1, got {self.mesh_points}")
        _check_choices("--pipelines", self.pipelines, PIPELINES)
        _check_choices("--backends", self.backends, BACKENDS)
        if any(b.startswith("tensorrt") for b in self.backends):
            from .backends import tensorrt_available

            if not tensorrt_available():
                raise ValueError("--backends tensorrt-*: TensorRT is not installed here (the "
                                 "[jetson] extra)")
        if self.weights_dir is not None and not Path(self.weights_dir).is_dir():
            raise FileNotFoundError(f"--weights-dir {self.weights_dir}: no such folder")


def _check_choices(option: str, values: tuple[str, ...], choices: tuple[str, ...]) -> None:
    if not values:
        raise ValueError(f"{option}: give at least one of {','.join(choices)}")
    for value in values:
        if value not in choices:
            raise ValueError(f"{option}: unknown {value!r}; use some of {','.join(choices)}")
    if len(set(values)) != len(values):
        raise ValueError(f"{option}: {','.join(values)} names one twice")


def split_backend(name: str) -> tuple[str, str]:
    """``"onnxruntime-int8"`` → ``("onnxruntime", "int8")``; ``"torch"`` → ``("torch",
    "fp32")`` (``edgegeo.load``'s backend and precision)."""
    backend, _, precision = name.partition("-")
    return backend, precision or "fp32"


# ---------------------------------------------------------------------------- frames
class Replay(Source):
    """Records rendered beforehand, delivered as fast as consumed (not live: the pipeline
    applies backpressure, nothing is dropped). ``has_depth`` / ``has_pose`` / ``has_stereo``
    are those of ``like``, the source they came from."""

    kind = "replay"

    def __init__(self, records: list[SourceRecord], like: Source):
        super().__init__(like.uri)
        self.records = records
        self.has_depth, self.has_pose, self.has_stereo = (like.has_depth, like.has_pose,
                                                          like.has_stereo)

    def _records(self) -> Iterator[SourceRecord]:
        yield from self.records


class Recordings:
    """The frames of the benchmark, rendered on first use: ``walkthrough`` (``gt``, ``mono``,
    ``mvs``) and ``stereo`` (rectified pairs), each ``(source, records)``."""

    def __init__(self, frames: int, size: tuple[int, int]):
        self.frames, self.size = frames, size

    @cached_property
    def walkthrough(self) -> tuple[Source, list[SourceRecord]]:
        from .sources import SyntheticSource

        return _record(SyntheticSource(SEED, self.frames, *self.size))

    @cached_property
    def stereo(self) -> tuple[Source, list[SourceRecord]]:
        from .sources import SyntheticStereoSource

        return _record(SyntheticStereoSource(SEED, self.frames, *self.size))

    def of(self, pipeline: str) -> tuple[Source, list[SourceRecord]]:
        return self.stereo if pipeline == "stereo" else self.walkthrough


def _record(source: Source) -> tuple[Source, list[SourceRecord]]:
    with source:
        return source, list(source)


# ----------------------------------------------------------------------------- benchmark
def run_benchmark(config: BenchConfig) -> dict:
    """Measure every pipeline × backend of ``config`` (see the module docstring).

    Returns:
        ``{"runs": [row, ...], "fusion": {...} | None, "info": {...}}``: ``runs``, one row per
        pipeline and backend: ``pipeline``, ``backend`` ("—" for ``gt`` and for a model
        without weights), ``status`` ("ok", or why it was not measured: "not shipped ...",
        "no export spec ...") and, measured, :func:`measure`'s numbers plus
        :func:`load_predictor`'s ``load_s`` and ``exported``; ``fusion``:
        :func:`fusion_quality` of the ``gt`` run (None without ``gt``); ``info``: profile,
        frame size, frames, seed, torch threads, fusion parameters, queue size, warm-up.
    """
    import torch

    from edgegeo.devices.profiles import load_profile

    profile = load_profile(config.device_profile)
    recordings = Recordings(config.frames, config.size)
    out = Path(config.out)
    runs, fusion = [], None
    for pipeline in config.pipelines:
        if pipeline == "gt":
            row, streamed = measure("gt", None, recordings.walkthrough, profile,
                                    out / "gt" / "stats.json")
            runs.append(dict(pipeline="gt", backend="—", status="ok", **row))
            fusion = fusion_quality(recordings.walkthrough, streamed, config.mesh_points)
            continue
        model = PIPELINE_MODELS[pipeline]
        weights = weights_path(model, config.weights_dir)
        if not weights.is_file():
            runs.append(dict(pipeline=pipeline, backend="—", status=(
                f"not shipped (no {weights.name} in {weights.parent}; train it with "
                f"`edgegeo train {model}`)")))
            continue
        for backend in config.backends:
            predictor, load = load_predictor(pipeline, backend, weights, profile)
            if predictor is None:
                runs.append(dict(pipeline=pipeline, backend=backend, **load))
                continue
            row, _ = measure(pipeline, predictor, recordings.of(pipeline), profile,
                             out / f"{pipeline}-{backend}" / "stats.json")
            runs.append(dict(pipeline=pipeline, backend=backend, status="ok", **row, **load))
    info = dict(profile=profile.name, size=list(config.size), frames=config.frames,
                seed=SEED, torch_threads=torch.get_num_threads(),
                fusion=vars(profile.fusion_config()), max_queue=profile.max_queue,
                warmup_frames=min(WARMUP_FRAMES, config.frames))
    return dict(runs=runs, fusion=fusion, info=info)


def weights_path(model: str, weights_dir: str | None) -> Path:
    """``<weights_dir>/<model>.safetensors`` (default: the shipped ``edgegeo/weights``)."""
    from edgegeo.weights_io import WEIGHTS_DIR

    return Path(weights_dir or WEIGHTS_DIR) / f"{model}.safetensors"


def load_predictor(pipeline: str, backend: str, weights: Path, profile) -> tuple:
    """The pipeline's model on ``backend`` (of :data:`BACKENDS`) with the options ``edgegeo
    run`` gives it on ``profile``.

    Returns:
        ``(predictor, {"load_s": seconds, "exported": bool | None})`` — ``exported``: the
        load wrote new files (the ONNX export, an engine) into the artefact cache; None for
        torch — or ``(None, {"status": why})`` for a model without an export spec on an
        exported backend.
    """
    import edgegeo
    from edgegeo.export import available_exports, cache_dir

    model = PIPELINE_MODELS[pipeline]
    name, precision = split_backend(backend)
    if name != "torch" and model not in available_exports():
        return None, {"status": f"no export spec for {model} (torch only)"}
    options = pipeline_model_options(pipeline, profile)
    before = None if name == "torch" else _files(cache_dir())
    start = time.perf_counter()
    predictor = edgegeo.load(model, backend=name, precision=precision, weights=weights,
                             **options)
    seconds = time.perf_counter() - start
    return predictor, {"load_s": seconds,
                       "exported": None if before is None else _files(cache_dir()) != before}


def _files(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


def _assemble(pipeline: str, predictor, recording: tuple[Source, list[SourceRecord]],
              profile, sinks: tuple = ()):
    """A fresh run of ``pipeline`` over a replay of ``recording`` into a fresh map, as
    ``edgegeo run --fuse`` builds it on ``profile``."""
    like, records = recording
    return assemble_run(RunSpec(Replay(records, like), pipeline, fuse=True, sinks=sinks,
                                profile=profile, predictor=predictor))


def measure(pipeline: str, predictor, recording: tuple[Source, list[SourceRecord]], profile,
            stats_path: Path) -> tuple[dict, object]:
    """Warm up, run the stages back to back, then stream (see the module docstring).

    Args:
        pipeline: of :data:`~edgegeo.runtime.assembly.PIPELINES`.
        predictor: its model (None for ``gt``).
        recording: ``(source, records)`` of :class:`Recordings`.
        profile: the device profile.
        stats_path: where the streamed run writes its ``stats.json``.
    Returns:
        ``(row, fusion)``: ``fusion`` is the streamed run's ``TSDFFusion``; ``row``:
        ``frames`` (out of the pipeline), ``depth_frames`` (of them, with depth), ``fps``
        (the runtime's: frames out per second of the run), ``e2e_ms`` and ``stages_ms``
        (``{stage: (median, p95)}`` ms; the pipeline's stages, without source and sinks),
        ``skipped`` (``{stage: {reason: count}}``), ``errors``, ``dropped``, ``serial_ms``
        and ``streamed_ms`` (wall time per frame in steady state: stages back to back / the
        runtime), ``overhead_pct`` (``100 · (streamed_ms − serial_ms) / serial_ms``),
        ``handoff_ms`` (the runtime's own time per frame outside stages and queue waits,
        mean), ``peak_rss_mib``, ``stats`` (the ``stats.json`` path).
    """
    records = recording[1]
    _back_to_back(_assemble(pipeline, predictor, recording, profile).stages,
                  records[:WARMUP_FRAMES])
    serial_ms = _steady_ms(_back_to_back(_assemble(pipeline, predictor, recording,
                                                   profile).stages, records))
    done = _Completions()
    run = _assemble(pipeline, predictor, recording, profile, sinks=(done,))
    stats = run.pipeline(info=dict(bench="runtime"), stats_path=stats_path
                         ).run(handle_signals=False).snapshot()
    streamed_ms = _steady_ms(done.times)
    names = [stage.name for stage in run.stages]
    latency = {name: stats["stages"][name] for name in names}
    row = dict(frames=stats["frames_out"], depth_frames=done.with_depth, fps=stats["fps"],
               e2e_ms=_median_p95(stats["end_to_end"]),
               stages_ms={name: _median_p95(s["latency"]) for name, s in latency.items()},
               skipped={name: s["skip_reasons"] for name, s in latency.items() if s["skipped"]},
               errors=stats["errors"], dropped=stats["dropped"], serial_ms=serial_ms,
               streamed_ms=streamed_ms,
               overhead_pct=100.0 * (streamed_ms - serial_ms) / serial_ms,
               handoff_ms=stats["runtime_overhead"]["mean_ms"],
               peak_rss_mib=stats["memory"]["peak_rss_mib"], stats=str(stats_path))
    return row, run.live_map.fusion


def _back_to_back(stages: list, records: list[SourceRecord]) -> list[float]:
    """Call ``stages`` one after the other on each record in this thread, as the runtime
    would (a frame a stage rejects or filters goes no further); returns the
    ``time.perf_counter()`` at which each frame was done."""
    done = []
    for seq, record in enumerate(records):
        packet = Packet(seq, record, time.perf_counter())
        for stage in stages:
            try:
                packet = stage(packet)
            except BadFrame:
                packet = None
            if packet is None:
                break
        done.append(time.perf_counter())
    return done


def _steady_ms(done: list[float]) -> float:
    """Wall time per frame in steady state, ms: from the first frame done to the last."""
    if len(done) < 2:
        raise RuntimeError(f"only {len(done)} frame(s) came out: no steady-state time")
    return 1000.0 * (done[-1] - done[0]) / (len(done) - 1)


def _median_p95(latency: dict) -> tuple[float, float]:
    return latency["median_ms"], latency["p95_ms"]


class _Completions:
    """Sink noting when each packet left the pipeline (``times``, ``perf_counter``) and how
    many had depth (``with_depth``)."""

    name = "completions"

    def __init__(self):
        self.times: list[float] = []
        self.with_depth = 0

    def write(self, packet: Packet) -> None:
        self.times.append(time.perf_counter())
        self.with_depth += packet.depth is not None


# ------------------------------------------------------------------------- fusion quality
def fusion_quality(recording: tuple[Source, list[SourceRecord]], streamed, mesh_points: int
                   ) -> dict:
    """The ``gt`` pipeline's streamed mesh against offline fusion of the same frames.

    Args:
        recording: the walk-through ``(source, records)`` (its ``scene.mesh`` is the ground
            truth).
        streamed: the ``TSDFFusion`` the streamed ``gt`` run fused into.
        mesh_points: samples on the seen ground-truth surface and on each mesh.
    Returns:
        ``{"streamed": row, "offline": row}``, each row ``frames_fused``, ``triangles`` and
        :func:`~edgegeo.metrics.mesh.mesh_metrics` at 5 cm (``fscore``, ``precision``,
        ``recall``; ``accuracy``, ``completeness``, ``chamfer`` in metres) of its
        (canonically ordered) mesh against :func:`~edgegeo.data.visibility.visible_surface_points`
        of the frames up to the fusion's ``max_depth``.
    """
    from edgegeo.data.visibility import visible_surface_points
    from edgegeo.metrics.mesh import mesh_metrics

    from edgegeo.fusion import TSDFFusion

    source, records = recording
    frames = [record.frame for record in records]
    offline = TSDFFusion(streamed.config, device=str(streamed.device))
    for frame in frames:
        offline.integrate(frame.depth, frame.K, frame.world_T_cam, frame.rgb)
    seen = visible_surface_points(source.scene.mesh, frames, mesh_points,
                                  max_depth=streamed.config.max_depth)
    rows = {}
    for label, fusion in (("streamed", streamed), ("offline", offline)):
        mesh = fusion.extract_mesh()
        rows[label] = dict(frames_fused=fusion.frames_integrated, triangles=len(mesh.triangles),
                           **mesh_metrics(mesh, seen, F_SCORE_THRESHOLD, mesh_points))
    return rows


