"""Device profiles: what the runtime should use on a given machine (inference backend,
precision and resolution, camera format, queue depth, fusion voxel size, memory budget).

Profiles are TOML files beside this module (``jetson-orin-nano.toml``, ...); ``load_profile``
takes a profile name, ``auto`` (detect this machine), or the path of a custom ``.toml`` with
the same fields.

    profile = load_profile("auto")      # jetson-* from /proc/device-tree/model, x86-gpu if
    profile.fusion_voxel_size           # nvidia-smi sees a GPU, else cpu
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:          # Python 3.10 (JetPack 6's python3)
    import tomli as tomllib

PROFILE_DIR = Path(__file__).resolve().parent
BACKENDS = ("tensorrt", "onnxruntime", "torch")
PRECISIONS = ("fp32", "fp16", "int8")
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")


@dataclass(frozen=True)
class DeviceProfile:
    """One device profile (see the ``.toml`` files for the meaning of each field).

    Attributes:
        name, description: identity.
        backend: preferred inference backend (tensorrt | onnxruntime | torch).
        precision: fp32 | fp16 | int8.
        resolution: ``(H, W)`` pixels of the mono-depth input (it runs at the short side);
            stereo runs at the pair's own size (shrunk only to fit its disparity range) and
            mvs at the working resolution on its model card.
        camera: ``(width, height, fps)`` of the RealSense streams.
        max_queue: packets waiting before each pipeline stage.
        fusion_voxel_size: metres; fusion_trunc: metres (trunc_voxels × voxel);
        fusion_max_depth: metres; fusion_device: Open3D device (``CPU:0``, ``CUDA:0``).
        memory_budget_mib: resident memory the run should stay under.
        model_backends: per-model preferred backends (``[inference.models]``, e.g.
            ``mvs = "torch"``) where a model runs faster on another backend than ``backend``.
        path: the file it came from.
    """

    name: str
    description: str
    backend: str
    precision: str
    resolution: tuple[int, int]
    camera: tuple[int, int, int]
    max_queue: int
    fusion_voxel_size: float
    fusion_trunc: float
    fusion_max_depth: float
    fusion_device: str
    memory_budget_mib: float
    model_backends: dict[str, str] = field(default_factory=dict)
    path: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def backend_for(self, model: str) -> str:
        """The preferred backend of ``model`` (``mono-depth``, ``stereo``, ``mvs``, ``jbu``)."""
        return self.model_backends.get(model, self.backend)

    def fusion_config(self, **overrides):
        """A :class:`~edgegeo.fusion.FusionConfig` from this profile (``overrides``
        replace fields, e.g. ``max_depth=5.0``)."""
        from edgegeo.fusion import FusionConfig

        values = dict(voxel_size=self.fusion_voxel_size, trunc=self.fusion_trunc,
                      max_depth=self.fusion_max_depth)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if overrides.get("voxel_size") is not None and overrides.get("trunc") is None:
            values["trunc"] = self.fusion_trunc / self.fusion_voxel_size * values["voxel_size"]
        return FusionConfig(**values)


def available_profiles() -> list[str]:
    """Names of the shipped profiles, sorted."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name: str = "auto") -> DeviceProfile:
    """Load a device profile.

    Args:
        name: a shipped profile's name (:func:`available_profiles`), ``auto`` (see
            :func:`detect_profile`), or the path of a ``.toml`` file.
    Raises:
        ValueError: unknown name (the message lists the profiles), or a file with missing,
            unknown or invalid fields.
        FileNotFoundError: a ``.toml`` path that does not exist.
    """
    if name == "auto":
        name = detect_profile()
    if name.endswith(".toml") or "/" in name:
        path = Path(name).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"device profile file not found: {path}")
    else:
        path = PROFILE_DIR / f"{name}.toml"
        if not path.is_file():
            raise ValueError(f"unknown device profile {name!r}; available: "
                             f"{', '.join(available_profiles())}, auto, or a path to a .toml")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    return _parse(data, path)


MODELS = ("mono-depth", "stereo", "mvs", "jbu")
_OPTIONAL_TABLES = {"inference": "models"}      # section → its optional sub-table
_SCHEMA = {
    "": {"name": str, "description": str},
    "inference": {"backend": str, "precision": str, "resolution": list},
    "camera": {"width": int, "height": int, "fps": int},
    "runtime": {"max_queue": int},
    "fusion": {"voxel_size": float, "trunc_voxels": float, "max_depth": float, "device": str},
    "memory": {"budget_mib": float},
}


def _parse(data: dict, path: Path) -> DeviceProfile:
    def fail(message: str):
        raise ValueError(f"device profile {path}: {message}")

    values: dict[str, dict] = {}
    for section, fields in _SCHEMA.items():
        table = data if section == "" else data.get(section)
        if not isinstance(table, dict):
            fail(f"missing section [{section}]")
        extra = (set(table) - set(fields) - (set(_SCHEMA) if section == "" else set())
                 - {_OPTIONAL_TABLES.get(section)})
        if extra:
            fail(f"unknown field(s) {', '.join(sorted(extra))} in "
                 f"{'the top level' if section == '' else f'[{section}]'}")
        values[section] = {}
        for key, kind in fields.items():
            where = key if section == "" else f"{section}.{key}"
            if key not in table:
                fail(f"missing {where}")
            value = table[key]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                fail(f"{where} must be {kind.__name__}, got {value!r}")
            if kind in (int, float) and not value > 0:
                fail(f"{where} must be > 0, got {value}")
            values[section][key] = value
    inference, fusion = values["inference"], values["fusion"]
    if inference["backend"] not in BACKENDS:
        fail(f"inference.backend must be one of {', '.join(BACKENDS)}")
    if inference["precision"] not in PRECISIONS:
        fail(f"inference.precision must be one of {', '.join(PRECISIONS)}")
    model_backends = data["inference"].get("models", {})
    if not isinstance(model_backends, dict):
        fail("[inference.models] must be a table of model = backend")
    for model, backend in model_backends.items():
        if model not in MODELS:
            fail(f"[inference.models]: unknown model {model!r}; one of {', '.join(MODELS)}")
        if backend not in BACKENDS:
            fail(f"inference.models.{model} must be one of {', '.join(BACKENDS)}, got "
                 f"{backend!r}")
    resolution = inference["resolution"]
    if (len(resolution) != 2 or not all(isinstance(v, int) and v > 0 and v % 16 == 0
                                        for v in resolution)):
        fail(f"inference.resolution must be [H, W], positive multiples of 16, got {resolution}")
    if fusion["trunc_voxels"] < 1:
        fail("fusion.trunc_voxels must be >= 1")
    if not (fusion["device"].startswith("CPU:") or fusion["device"].startswith("CUDA:")):
        fail(f"fusion.device must be CPU:N or CUDA:N, got {fusion['device']!r}")
    if values[""]["name"] != path.stem and path.parent == PROFILE_DIR:
        fail(f"name {values['']['name']!r} does not match the file name")
    camera = values["camera"]
    return DeviceProfile(
        name=values[""]["name"], description=values[""]["description"],
        backend=inference["backend"], precision=inference["precision"],
        resolution=(resolution[0], resolution[1]),
        camera=(camera["width"], camera["height"], camera["fps"]),
        max_queue=values["runtime"]["max_queue"], fusion_voxel_size=fusion["voxel_size"],
        fusion_trunc=fusion["trunc_voxels"] * fusion["voxel_size"],
        fusion_max_depth=fusion["max_depth"], fusion_device=fusion["device"],
        memory_budget_mib=values["memory"]["budget_mib"], model_backends=dict(model_backends),
        path=str(path))


# --------------------------------------------------------------------------- detection
def detect_profile(device_tree_model: str | None = None,
                   nvidia_gpus: list[str] | None = None) -> str:
    """The profile name for this machine.

    Jetsons are recognised from ``/proc/device-tree/model`` (e.g. "NVIDIA Jetson Orin Nano
    Developer Kit"); other machines with an NVIDIA GPU listed by ``nvidia-smi -L`` get
    ``x86-gpu``; everything else ``cpu``. Both inputs can be given (for tests); by default
    they are read from the machine.
    """
    model = (device_tree_model if device_tree_model is not None else _read_model()).lower()
    if "jetson" in model or "orin" in model:
        if "nano" in model:
            return "jetson-orin-nano"
        if " nx" in model or "orin nx" in model:
            return "jetson-orin-nx"
        if "agx" in model or "orin" in model:
            return "jetson-agx-orin"
    gpus = nvidia_gpus if nvidia_gpus is not None else _nvidia_gpus()
    return "x86-gpu" if gpus else "cpu"


def _read_model() -> str:
    try:
        return DEVICE_TREE_MODEL.read_bytes().decode(errors="replace").rstrip("\x00").strip()
    except OSError:
        return ""


def _nvidia_gpus() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        result = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []
    return [line for line in result.stdout.splitlines() if line.startswith("GPU ")]
