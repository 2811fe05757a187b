"""Put a run together from its description: :class:`RunSpec` → :func:`assemble_run` → the
source, the stages, the map and the sinks (:class:`AssembledRun`), ready for a
:class:`~edgegeo.runtime.pipeline.Pipeline`.

The one place that knows how a run is built — used by ``edgegeo run``, ``edgegeo bench
runtime`` and the demo alike: the source URI's rewrites (the device profile's camera format; a
RealSense in infrared geometry for stereo), what the pipeline needs of the source, the model on
its backend with its options (:mod:`edgegeo.runtime.backends`), the TSDF map (the profile's
fusion parameters and device), the stages of the named pipeline (:func:`standard_stages`) and
the sinks by URI (:func:`~edgegeo.runtime.sinks.open_sink`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .map import LiveMap
from .sources.base import Source
from .stages.check import CheckFrame
from .stages.depth import DepthStage, ScaleToReference
from .stages.fuse import FuseStage
from .stages.mvs import MVS_FRAMES, MVSStage
from .stages.stereo import NO_PAIR_HELP, StereoStage
from .stages.track import TrackStage
from .stages.upsample import UpsampleStage

PIPELINES = ("gt", "mono", "stereo", "mvs")
TRACKED_PIPELINES = ("gt", "stereo", "mvs")
"""Pipelines that can run with camera tracking: ``gt`` and ``stereo`` track on their metric
depth; ``mvs`` tracks on the source's own depth (an RGB-D camera) and then predicts from the
colour stream on the tracked poses."""
NO_TRACKING_HELP = {
    "mono": "camera tracking needs metric depth, and mono depth has none: the mono pipeline "
            "only fits its scale to the source's depth frame by frame, so a track built on it "
            "would drift in scale. Use --pipeline gt (the camera's own depth) or stereo",
}
MVS_TRACKING_HELP = ("the mvs pipeline tracks the camera on the source's own depth, and {name} "
                     "gives none: use a posed source or an RGB-D one (realsense://, .db3, a "
                     "TUM folder)")
STEREO_MAX_ERROR_PX = 2.0
"""The stereo pipeline leaves out of fusion pixels whose expected disparity error (the
model's confidence) exceeds this, pixels."""


def standard_stages(kind: str, live_map: LiveMap | None = None, predictor=None,
                    max_depth: float = 10.0, upsample: bool = False,
                    pass_unposed: bool = False, tracker=None,
                    mvs_frames: str = "keyframes") -> list:
    """The stages of a named pipeline.

    Args:
        kind: ``gt`` (the source's own depth: RealSense, synthetic, RGB-D folders), ``mono``
            (``predictor`` = relative mono-depth, scaled to the frame's reference depth),
            ``stereo`` (``predictor`` = a stereo model on the source's rectified pairs, see
            :class:`~edgegeo.runtime.stages.stereo.StereoStage`) or ``mvs`` (``predictor`` =
            an ``MVSPredictor`` fed posed frames through its keyframe stream, see
            :class:`~edgegeo.runtime.stages.mvs.MVSStage`).
        live_map: the map to fuse into (None: no fusion stage).
        predictor: the model for ``mono``, ``stereo`` and ``mvs``.
        max_depth: ``mono``: depth beyond this (metres) is left out of the scale fit and
            output as 0.
        upsample: add a bilateral-upsampling stage after inference.
        pass_unposed: see :class:`~edgegeo.runtime.stages.fuse.FuseStage`.
        tracker: an :class:`~edgegeo.fusion.tracking.RGBDTracker`: add a tracking stage
            that estimates each frame's pose from its depth — before fusion, or for ``mvs``
            before the model, from the source's own depth.
        mvs_frames: ``mvs``: the frames that get depth, ``keyframes`` or ``all`` (see
            :class:`~edgegeo.runtime.stages.mvs.MVSStage`).
    """
    if kind not in PIPELINES:
        raise ValueError(f"unknown pipeline {kind!r}; use {', '.join(PIPELINES)}")
    if kind != "gt" and predictor is None:
        raise ValueError(f"the {kind} pipeline needs a predictor")
    if kind == "gt":
        stages = [CheckFrame(use_source_depth=True)]
    elif kind == "mono":
        stages = [CheckFrame(), DepthStage(predictor, "disparity", "mono"),
                  ScaleToReference(max_depth=max_depth)]
    elif kind == "stereo":
        stages = [CheckFrame(), StereoStage(predictor,
                                            max_disparity_error_px=STEREO_MAX_ERROR_PX)]
    elif tracker is not None:
        stages = [CheckFrame(), TrackStage(tracker, depth="sensor"),
                  MVSStage(predictor, predict_on=mvs_frames)]
    else:
        stages = [CheckFrame(), MVSStage(predictor, predict_on=mvs_frames)]
    if upsample:
        stages.append(UpsampleStage())
    if tracker is not None and kind != "mvs":
        stages.append(TrackStage(tracker))
    if live_map is not None:
        stages.append(FuseStage(live_map, pass_unposed=pass_unposed))
    return stages


# ------------------------------------------------------------------------------ the spec
@dataclass(frozen=True)
class RunSpec:
    """What a run is, before anything is opened.

    Attributes:
        source: a source URI (see :func:`~edgegeo.runtime.sources.open_source`), or a source
            already open (e.g. a replay of rendered frames; the caller closes it).
        pipeline: of :data:`PIPELINES`.
        fuse: fuse depth into a TSDF map (:class:`~edgegeo.runtime.map.LiveMap`).
        sinks: sink URIs (see :func:`~edgegeo.runtime.sinks.open_sink`) or sink objects (any
            object with ``write(packet)``), in order.
        profile: a device profile name / ``.toml`` path / ``auto``, or a loaded
            :class:`~edgegeo.devices.profiles.DeviceProfile`: camera format, backend,
            precision, model resolution, fusion parameters and device, queue size, memory
            budget.
        predictor: the pipeline's model, already loaded (None: loaded here from
            ``weights`` on ``backend``).
        weights: the model's ``.safetensors`` (None: the shipped ones).
        backend: ``auto``, ``tensorrt``, ``onnxruntime`` or ``torch`` (see
            :func:`~edgegeo.runtime.backends.choose_backend`).
        device: torch device for the torch backend.
        max_disparity: stereo: the largest disparity expected, pixels.
        min_sources: mvs: predict once this many keyframes are buffered.
        mvs_frames: mvs: ``keyframes`` (default) or ``all`` frames get depth.
        voxel, max_depth: fusion voxel size / depth range in metres (None: the profile's).
        fusion_config: a whole :class:`~edgegeo.fusion.FusionConfig` instead of the
            profile's (``voxel`` and ``max_depth`` are then ignored).
        track: estimate camera poses from depth (:mod:`edgegeo.fusion.tracking`): None =
            when fusing a source without poses; True also on a posed source (its poses are then
            only compared against, not used); False never (an unposed source is not fused).
        tracking: the :class:`~edgegeo.fusion.tracking.TrackingConfig` (None: the defaults).
    Raises:
        ValueError: an unknown pipeline, or an option that does not apply to the pipeline
            (the message names the ``edgegeo run`` option).
    """

    source: str | Source
    pipeline: str = "gt"
    fuse: bool = False
    sinks: tuple = ()
    profile: object = "auto"
    predictor: Callable | None = None
    weights: str | Path | None = None
    backend: str = "auto"
    device: str = "cpu"
    max_disparity: float | None = None
    min_sources: int | None = None
    mvs_frames: str = "keyframes"
    voxel: float | None = None
    max_depth: float | None = None
    fusion_config: object | None = None
    track: bool | None = None
    tracking: object | None = None

    def __post_init__(self):
        if self.pipeline not in PIPELINES:
            raise ValueError(f"unknown pipeline {self.pipeline!r}; use {', '.join(PIPELINES)}")
        for option, value, pipelines in (("--weights", self.weights, ("mono", "stereo", "mvs")),
                                         ("--max-disparity", self.max_disparity, ("stereo",)),
                                         ("--min-sources", self.min_sources, ("mvs",))):
            if value is not None and self.pipeline not in pipelines:
                raise ValueError(f"{option} applies to --pipeline {' / '.join(pipelines)}, not "
                                 f"{self.pipeline}")
        if self.mvs_frames not in MVS_FRAMES:
            raise ValueError(f"--mvs-frames must be one of {', '.join(MVS_FRAMES)}, got "
                             f"{self.mvs_frames!r}")
        if self.mvs_frames != "keyframes" and self.pipeline != "mvs":
            raise ValueError(f"--mvs-frames applies to --pipeline mvs, not {self.pipeline}")
        if self.pipeline == "gt" and self.backend != "auto":
            raise ValueError("--backend applies to the model pipelines (mono, stereo, mvs), "
                             "not gt")
        if self.track and self.pipeline not in TRACKED_PIPELINES:
            raise ValueError(NO_TRACKING_HELP[self.pipeline])


@dataclass
class AssembledRun:
    """A run put together: hand it to :meth:`pipeline` and run that; close it afterwards
    (``with`` does), which closes the source if :func:`assemble_run` opened it.

    Attributes:
        source, stages, sinks: for the :class:`~edgegeo.runtime.pipeline.Pipeline`.
        live_map: the map the fuse stage writes and the map sinks read (None: no fusion).
        profile: the device profile used.
        inference: ``model``, ``backend``, ``precision``, ``reason`` of a model loaded here
            (empty for ``gt`` or a given predictor).
        notes: what the user should know about how the run was built (fallbacks, frames
            that will not be fused), one sentence each.
        spec: what it was built from.
    """

    source: Source
    stages: list
    sinks: list
    live_map: LiveMap | None
    profile: object
    inference: dict
    notes: list[str]
    spec: RunSpec
    owns_source: bool = field(default=False, repr=False)

    @property
    def info(self) -> dict:
        """JSON-able facts for ``stats.json``."""
        tracking = next((vars(stage.tracker.config) for stage in self.stages
                         if isinstance(stage, TrackStage)), None)
        return dict(pipeline=self.spec.pipeline, fuse=self.spec.fuse, tracking=tracking,
                    profile=self.profile.as_dict(), backend=self.inference.get("backend"),
                    inference=self.inference or None,
                    fusion=vars(self.live_map.config) if self.live_map else None,
                    notes=list(self.notes))

    def pipeline(self, info: dict | None = None, max_queue: int | None = None, **options):
        """The :class:`~edgegeo.runtime.pipeline.Pipeline` of this run: queues of
        ``max_queue`` (default the profile's), the profile's memory budget, :attr:`info` plus
        ``info``; ``options`` go to the pipeline as they are."""
        from .pipeline import Pipeline

        return Pipeline(self.source, self.stages, self.sinks,
                        max_queue=max_queue or self.profile.max_queue,
                        memory_budget_mib=self.profile.memory_budget_mib,
                        info=dict(self.info, **(info or {})), **options)

    def close(self) -> None:
        if self.owns_source:
            self.source.close()

    def __enter__(self) -> AssembledRun:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ------------------------------------------------------------------------------ assembly
def assemble_run(spec: RunSpec) -> AssembledRun:
    """Open and build everything ``spec`` describes (see the module docstring).

    Raises:
        ValueError: the source lacks what the pipeline needs (depth, pose, stereo pairs), a
            bad sink URI, a backend that cannot run the model, bad profile values.
        FileNotFoundError: missing weights, source file or folder.
        SourceError: the source device cannot be opened.
    """
    from edgegeo.devices.profiles import load_profile

    profile = load_profile(spec.profile) if isinstance(spec.profile, str) else spec.profile
    owns_source = isinstance(spec.source, str)
    source = _open_source(spec, profile) if owns_source else spec.source
    try:
        _check_source(spec, source)
        notes: list[str] = []
        predictor, inference = spec.predictor, {}
        if spec.pipeline != "gt" and predictor is None:
            predictor, inference = _load_predictor(spec, profile)
            notes.append(f"{inference['model']} on {inference['backend']} "
                         f"{inference['precision']} ({inference['reason']})")
        unposed = source.has_pose is False
        track = _tracking_on(spec, source, unposed, notes)
        live_map = _live_map(spec, profile, notes) if spec.fuse else None
        tracker = _tracker(spec, live_map, notes) if track else None
        stages = standard_stages(spec.pipeline, live_map=live_map, predictor=predictor,
                                 max_depth=live_map.config.max_depth if live_map else 10.0,
                                 pass_unposed=unposed and not track, tracker=tracker,
                                 mvs_frames=spec.mvs_frames)
        sinks = [_sink(item, live_map, source) for item in spec.sinks]
    except BaseException:
        if owns_source:
            source.close()
        raise
    return AssembledRun(source, stages, sinks, live_map, profile, inference, notes, spec,
                        owns_source)


def _tracking_on(spec: RunSpec, source: Source, unposed: bool, notes: list[str]) -> bool:
    """Whether the run tracks the camera (see :attr:`RunSpec.track`)."""
    name = _source_name(spec, source)
    if spec.track is False:
        if spec.fuse and unposed:
            notes.append(f"{name} gives no camera poses and tracking is off (--no-track): "
                         "frames are not fused (they still reach the other outputs)")
        return False
    if spec.track is None and not (unposed and (spec.fuse or spec.pipeline == "mvs")):
        return False
    if spec.pipeline not in TRACKED_PIPELINES:
        raise ValueError(f"{name} gives no camera poses, so fusing it needs camera tracking; "
                         + NO_TRACKING_HELP[spec.pipeline])
    if spec.pipeline == "mvs" and source.has_depth is False:
        raise ValueError(MVS_TRACKING_HELP.format(name=name))
    if spec.pipeline == "mvs" and (spec.tracking is not None
                                   and getattr(spec.tracking, "reference", None) == "model"):
        raise ValueError("--track-reference model registers to the map, which the mvs pipeline "
                         "builds from its own predictions after tracking: use keyframe or frame")
    return True


def _tracker(spec: RunSpec, live_map: LiveMap | None, notes: list[str]):
    """The run's :class:`~edgegeo.fusion.tracking.RGBDTracker`."""
    from edgegeo.fusion.tracking import RGBDTracker, TrackingConfig

    config = spec.tracking or TrackingConfig()
    if config.reference == "model" and live_map is None:
        raise ValueError("frame-to-model tracking (--track-reference model) registers frames "
                         "to the fused map: add --fuse")
    notes.append(f"camera tracking on: {config.method.replace('_', '-')} registration to the "
                 f"{config.reference}; the first frame is the world frame")
    return RGBDTracker(config, raycast=live_map.raycast if live_map is not None else None)


def _source_name(spec: RunSpec, source: Source) -> str:
    return spec.source if isinstance(spec.source, str) else source.uri


def _open_source(spec: RunSpec, profile) -> Source:
    from .sources import open_source

    uri = _with_profile_camera(spec.source, profile)
    if spec.pipeline == "stereo":
        uri = _infrared_geometry(uri)
    return open_source(uri)


def _with_profile_camera(uri: str, profile) -> str:
    """A ``realsense://`` URI gets the profile's stream format unless it names its own."""
    from .sources import parse_uri

    parsed = parse_uri(uri)
    if parsed.scheme != "realsense":
        return uri
    width, height, fps = profile.camera
    extra = [f"{key}={value}" for key, value in (("width", width), ("height", height),
                                                 ("fps", fps)) if key not in parsed.options]
    if not extra:
        return uri
    return uri + ("&" if "?" in uri else "?") + "&".join(extra)


def _infrared_geometry(uri: str) -> str:
    """A RealSense camera or recording for the stereo pipeline: frames in the left infrared
    camera's geometry (``align=0``), so that the infrared pair is the frame's stereo pair."""
    from .sources import parse_uri
    from .sources.uri import RECORDING_SUFFIXES

    parsed = parse_uri(uri)
    recording = parsed.scheme == "file" and Path(parsed.target).suffix.lower() in \
        RECORDING_SUFFIXES
    if parsed.scheme != "realsense" and not recording:
        return uri
    if "align" in parsed.options:
        if parsed.options["align"].lower() not in ("0", "false", "no", "off"):
            raise ValueError(f"{uri}: the stereo pipeline runs on the infrared pair, in the "
                             "depth camera's geometry; drop align=1")
        return uri
    return uri + ("&" if "?" in uri else "?") + "align=0"


def _check_source(spec: RunSpec, source: Source) -> None:
    """The source gives what the pipeline needs (ValueError naming what is missing)."""
    name = _source_name(spec, source)
    if spec.pipeline == "gt" and source.has_depth is False:
        raise ValueError(f"{name} has no depth, which --pipeline gt uses; use a RealSense, "
                         "synthetic or RGB-D source, or --pipeline mono")
    if spec.pipeline == "mono" and source.has_depth is False:
        raise ValueError(f"{name} has no depth: the mono pipeline scales the model's "
                         "relative depth to the source's depth (RealSense or RGB-D); for "
                         "relative depth of plain images use `edgegeo depth`")
    if spec.pipeline == "stereo" and not source.has_stereo:
        raise ValueError(f"{name} gives no rectified stereo pairs: {NO_PAIR_HELP} (with "
                         "the infrared streams on: ir=1)")
    if spec.pipeline == "mvs" and source.has_pose is False and (source.has_depth is False
                                                                or spec.track is False):
        raise ValueError(f"{name} gives no camera poses: the mvs pipeline needs posed "
                         "frames (synthetic://, or a TUM / ScanNet-style / synthetic shard "
                         "folder) or, to track the camera, an RGB-D source (realsense://, "
                         ".db3, a TUM folder without poses)")


def _load_predictor(spec: RunSpec, profile) -> tuple:
    """The pipeline's model on the chosen backend, and what was chosen (for stats.json)."""
    import edgegeo
    from edgegeo.export import available_exports

    from .backends import (PIPELINE_MODELS, choose_backend, pipeline_model_options,
                           tensorrt_available)

    model = PIPELINE_MODELS[spec.pipeline]
    backend, why = choose_backend(model, spec.backend, profile.backend_for(model),
                                  exportable=model in available_exports(),
                                  has_tensorrt=tensorrt_available())
    precision = "fp32" if backend == "torch" else profile.precision
    options = pipeline_model_options(spec.pipeline, profile, spec.max_disparity,
                                     spec.min_sources)
    predictor = edgegeo.load(model, backend=backend, device=spec.device, precision=precision,
                             weights=spec.weights, **options)
    return predictor, dict(model=model, backend=backend, precision=precision, reason=why)


def _live_map(spec: RunSpec, profile, notes: list[str]) -> LiveMap:
    """An empty map: ``spec.fusion_config`` or the profile's fusion parameters, on the
    profile's fusion device (CPU where this Open3D has no CUDA, with a note)."""
    import open3d as o3d

    from edgegeo.fusion import TSDFFusion

    config = spec.fusion_config or profile.fusion_config(voxel_size=spec.voxel,
                                                         max_depth=spec.max_depth)
    device = profile.fusion_device
    if device.startswith("CUDA") and not o3d.core.cuda.is_available():
        notes.append(f"fusion on CPU:0 (profile asks {device}; this Open3D has no CUDA)")
        device = "CPU:0"
    return LiveMap(TSDFFusion(config, device=device))


def _sink(item, live_map: LiveMap | None, source: Source):
    """A sink from a URI (the source's frame rate for video), or a sink object as it is."""
    if not isinstance(item, str):
        return item
    from .sinks import open_sink

    return open_sink(item, live_map=live_map, fps=getattr(source, "fps", None))
