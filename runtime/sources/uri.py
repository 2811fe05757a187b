"""Open a frame source by URI.

=================================================  ==============================================
URI                                                source
=================================================  ==============================================
``realsense://`` / ``realsense://SERIAL``          live RealSense: colour + depth (aligned to
                                                   colour, metres) + IR pair. Options ``width``,
                                                   ``height``, ``fps``, ``ir``, ``align``,
                                                   ``timeout``.
``file://REC.db3`` / ``file://REC.bag``            RealSense recording; ``realtime=1`` plays at
                                                   the recorded pace (default: as fast as
                                                   processed, nothing lost); ``align``.
``file://VIDEO.mp4`` (any video OpenCV decodes)    video; ``K``/``hfov``, ``fps``, ``realtime``.
``file://DIR/``                                    synthetic shard, TUM RGB-D or ScanNet-style
                                                   folder (posed RGB-D), else a plain image
                                                   folder; ``K``/``hfov``, ``fps``,
                                                   ``realtime``.
``synthetic://walkthrough?seed=N&frames=M&size=WxH``  edgegeo's scene engine with ground truth;
                                                   ``fps``, ``hfov``, ``realtime``.
``synthetic://stereo?seed=N&frames=M&baseline=B``  rectified stereo pairs of a synthetic room
                                                   (fresh viewpoint per pair) with ground truth
                                                   of the left view; ``size``, ``fps``,
                                                   ``hfov`` (default 70°), ``realtime``.
``v4l2:///dev/videoN`` / ``v4l2://N``              UVC/V4L2 camera via OpenCV; ``width``,
                                                   ``height``, ``fps``, ``K``/``hfov``.
``csi://N``                                        Jetson CSI camera via GStreamer; ``width``,
                                                   ``height``, ``fps``, ``flip``, ``K``/``hfov``.
=================================================  ==============================================

Options follow ``?`` as ``key=value`` pairs joined by ``&``. ``K=fx,fy,cx,cy`` gives intrinsics
(pixels) to sources that do not know them; ``hfov=DEG`` a field of view instead (default 60°).
A path without a scheme is taken as ``file://``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from .base import Source

SCHEMES = ("realsense", "file", "synthetic", "v4l2", "csi")
RECORDING_SUFFIXES = (".db3", ".bag")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".h264",
                  ".h265", ".hevc", ".ts", ".wmv", ".flv", ".gif")

_OPTIONS = {
    "realsense": {"width", "height", "fps", "ir", "align", "timeout"},
    "recording": {"realtime", "align"},
    "video": {"K", "hfov", "fps", "realtime"},
    "folder": {"K", "hfov", "fps", "realtime"},
    "synthetic": {"seed", "frames", "size", "fps", "hfov", "realtime"},
    "synthetic-stereo": {"seed", "frames", "size", "baseline", "fps", "hfov", "realtime"},
    "v4l2": {"width", "height", "fps", "K", "hfov"},
    "csi": {"width", "height", "fps", "flip", "K", "hfov"},
}


@dataclass(frozen=True)
class SourceURI:
    """A parsed source URI: ``scheme://target?options``."""

    scheme: str
    target: str
    options: dict = field(default_factory=dict)
    text: str = ""


def parse_uri(uri: str) -> SourceURI:
    """Split a source URI into scheme, target and options (no I/O).

    Raises:
        ValueError: empty URI, unknown scheme (the message lists the known ones), an option
        without ``=``, or an option given twice.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise ValueError("empty source URI; e.g. realsense://, file://video.mp4, "
                         "synthetic://walkthrough?seed=0&frames=60")
    text = uri.strip()
    if "://" in text:
        scheme, rest = text.split("://", 1)
        scheme = scheme.lower()
    else:
        scheme, rest = "file", text
    if scheme not in SCHEMES:
        raise ValueError(f"unknown source scheme {scheme!r} in {uri!r}; known: "
                         f"{', '.join(s + '://' for s in SCHEMES)}")
    target, _, query = rest.partition("?")
    options: dict[str, str] = {}
    if query:
        for part in query.split("&"):
            if not part:
                continue
            if "=" not in part:
                raise ValueError(f"{uri}: option {part!r} must be key=value")
            key, value = (unquote(v) for v in part.split("=", 1))
            if key in options:
                raise ValueError(f"{uri}: option {key!r} given twice")
            options[key] = value
    return SourceURI(scheme, unquote(target), options, text)


# --------------------------------------------------------------------------- option values
def _check_options(parsed: SourceURI, kind: str) -> None:
    allowed = _OPTIONS[kind]
    unknown = sorted(set(parsed.options) - allowed)
    if unknown:
        raise ValueError(f"{parsed.text}: unknown option(s) {', '.join(unknown)} for a {kind} "
                         f"source; allowed: {', '.join(sorted(allowed)) or 'none'}")


def _int(parsed: SourceURI, key: str, default=None, minimum: int = 1):
    if key not in parsed.options:
        return default
    try:
        value = int(parsed.options[key])
    except ValueError:
        raise ValueError(f"{parsed.text}: {key} must be an integer, got "
                         f"{parsed.options[key]!r}") from None
    if value < minimum:
        raise ValueError(f"{parsed.text}: {key} must be >= {minimum}, got {value}")
    return value


def _float(parsed: SourceURI, key: str, default=None):
    if key not in parsed.options:
        return default
    try:
        value = float(parsed.options[key])
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{parsed.text}: {key} must be a positive number, got "
                         f"{parsed.options[key]!r}")
    return value


def _bool(parsed: SourceURI, key: str, default: bool) -> bool:
    if key not in parsed.options:
        return default
    value = parsed.options[key].lower()
    if value in ("1", "true", "yes", "on", ""):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{parsed.text}: {key} must be 0 or 1, got {parsed.options[key]!r}")


def _size(parsed: SourceURI, default: tuple[int, int]) -> tuple[int, int]:
    if "size" not in parsed.options:
        return default
    text = parsed.options["size"].lower()
    try:
        width, height = (int(v) for v in text.split("x"))
    except ValueError:
        raise ValueError(f"{parsed.text}: size must look like 256x192, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"{parsed.text}: size must be positive, got {text!r}")
    return width, height


def _camera_K(parsed: SourceURI):
    if "K" in parsed.options and "hfov" in parsed.options:
        raise ValueError(f"{parsed.text}: give K or hfov, not both")
    if "K" not in parsed.options:
        return None
    try:
        values = [float(v) for v in parsed.options["K"].split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or not values[0] > 0 or not values[1] > 0:
        raise ValueError(f"{parsed.text}: K must be fx,fy,cx,cy in pixels (fx, fy > 0), got "
                         f"{parsed.options['K']!r}")
    return values


# --------------------------------------------------------------------------------- opening
def open_source(uri: str) -> Source:
    """Open the frame source ``uri`` names (see the module docstring for the URIs).

    Returns:
        A :class:`~.base.Source`: iterate it for :class:`~.base.SourceRecord`; close it (or
        use ``with``) when done.
    Raises:
        ValueError: malformed URI, unknown scheme or option, bad option value, a file type no
            source reads.
        FileNotFoundError: the file or folder does not exist.
        SourceError: the device cannot be opened (no camera, no GStreamer, ...).
    """
    parsed = parse_uri(uri)
    opener = {"realsense": _open_realsense, "file": _open_file, "synthetic": _open_synthetic,
              "v4l2": _open_v4l2, "csi": _open_csi}[parsed.scheme]
    return opener(parsed)


def _open_realsense(parsed: SourceURI) -> Source:
    from .realsense import open_realsense

    _check_options(parsed, "realsense")
    serial = parsed.target.strip("/")
    if serial and not serial.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"{parsed.text}: {serial!r} is not a serial number")
    return open_realsense(serial, uri=parsed.text, width=_int(parsed, "width", 640),
                          height=_int(parsed, "height", 480), fps=_int(parsed, "fps", 30),
                          infrared=_bool(parsed, "ir", True), align=_bool(parsed, "align", True),
                          timeout_s=_float(parsed, "timeout", 5.0))


def _open_file(parsed: SourceURI) -> Source:
    if not parsed.target:
        raise ValueError(f"{parsed.text}: no path after file://")
    path = Path(parsed.target).expanduser()
    suffix = path.suffix.lower()
    if path.is_dir() or parsed.target.endswith("/"):
        from .files import open_folder

        _check_options(parsed, "folder")
        return open_folder(path, parsed.text, realtime=_bool(parsed, "realtime", False),
                           K=_camera_K(parsed), hfov_deg=_float(parsed, "hfov"),
                           fps=_float(parsed, "fps"))
    if suffix in RECORDING_SUFFIXES:
        from .realsense import open_recording

        _check_options(parsed, "recording")
        return open_recording(path, uri=parsed.text, realtime=_bool(parsed, "realtime", False),
                              align=_bool(parsed, "align", True))
    if suffix in VIDEO_SUFFIXES:
        from .files import VideoSource

        _check_options(parsed, "video")
        if not path.is_file():
            raise FileNotFoundError(f"video file not found: {path}")
        return VideoSource(path, K=_camera_K(parsed), hfov_deg=_float(parsed, "hfov"),
                           fps=_float(parsed, "fps"), realtime=_bool(parsed, "realtime", False),
                           uri=parsed.text)
    if not path.exists():
        raise FileNotFoundError(f"{parsed.text}: no such file or folder: {path}")
    raise ValueError(f"{parsed.text}: cannot tell what {path.name!r} is; file:// takes a "
                     f"RealSense recording ({', '.join(RECORDING_SUFFIXES)}), a video "
                     f"({', '.join(VIDEO_SUFFIXES[:5])}, ...) or a folder")


def _open_synthetic(parsed: SourceURI) -> Source:
    from .synthetic import SyntheticSource, SyntheticStereoSource

    sequence = parsed.target.strip("/")
    if sequence not in ("walkthrough", "stereo"):
        raise ValueError(f"{parsed.text}: unknown synthetic sequence {sequence!r}; known: "
                         "walkthrough, stereo")
    width, height = _size(parsed, (256, 192))
    if sequence == "stereo":
        _check_options(parsed, "synthetic-stereo")
        return SyntheticStereoSource(seed=_int(parsed, "seed", 0, minimum=0),
                                     frames=_int(parsed, "frames", 30), width=width,
                                     height=height, baseline_m=_float(parsed, "baseline", 0.1),
                                     fps=_float(parsed, "fps", 10.0),
                                     hfov_deg=_float(parsed, "hfov", 70.0),
                                     realtime=_bool(parsed, "realtime", False), uri=parsed.text)
    _check_options(parsed, "synthetic")
    return SyntheticSource(seed=_int(parsed, "seed", 0, minimum=0),
                           frames=_int(parsed, "frames", 60), width=width, height=height,
                           fps=_float(parsed, "fps", 10.0), hfov_deg=_float(parsed, "hfov"),
                           realtime=_bool(parsed, "realtime", False), uri=parsed.text)


def _capture_options(parsed: SourceURI) -> dict:
    return dict(width=_int(parsed, "width"), height=_int(parsed, "height"),
                fps=_float(parsed, "fps"), K=_camera_K(parsed), hfov_deg=_float(parsed, "hfov"))


def _open_v4l2(parsed: SourceURI) -> Source:
    from .capture import open_v4l2

    _check_options(parsed, "v4l2")
    if not parsed.target:
        raise ValueError(f"{parsed.text}: expected v4l2:///dev/videoN or v4l2://N")
    return open_v4l2(parsed.target, parsed.text, **_capture_options(parsed))


def _open_csi(parsed: SourceURI) -> Source:
    from .capture import open_csi

    _check_options(parsed, "csi")
    return open_csi(parsed.target.strip("/"), parsed.text, flip=_int(parsed, "flip", 0, 0),
                    **_capture_options(parsed))
