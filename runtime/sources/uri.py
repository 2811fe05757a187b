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

from pathlib import Path

from ..uri import URI, bool_option, check_options, float_option, int_option
from ..uri import parse_uri as _parse
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


class SourceURI(URI):
    """A parsed source URI: ``scheme://target?options``."""


def parse_uri(uri: str) -> SourceURI:
    """Split a source URI into scheme, target and options (no I/O); a text without a scheme
    is a ``file://`` path.

    Raises:
        ValueError: empty URI, unknown scheme (the message lists the known ones), an option
        without ``=``, or an option given twice.
    """
    return _parse(uri, SCHEMES, "source", "realsense://, file://video.mp4, "
                  "synthetic://walkthrough?seed=0&frames=60", default_scheme="file",
                  cls=SourceURI)


# --------------------------------------------------------------------------- option values
def _check_options(parsed: SourceURI, kind: str) -> None:
    check_options(parsed, _OPTIONS[kind], f"{kind} source")


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
    return open_realsense(serial, uri=parsed.text, width=int_option(parsed, "width", 640),
                          height=int_option(parsed, "height", 480), fps=int_option(parsed, "fps", 30),
                          infrared=bool_option(parsed, "ir", True), align=bool_option(parsed, "align", True),
                          timeout_s=float_option(parsed, "timeout", 5.0))


def _open_file(parsed: SourceURI) -> Source:
    if not parsed.target:
        raise ValueError(f"{parsed.text}: no path after file://")
    path = Path(parsed.target).expanduser()
    suffix = path.suffix.lower()
    if path.is_dir() or parsed.target.endswith("/"):
        from .files import open_folder

        _check_options(parsed, "folder")
        return open_folder(path, parsed.text, realtime=bool_option(parsed, "realtime", False),
                           K=_camera_K(parsed), hfov_deg=float_option(parsed, "hfov"),
                           fps=float_option(parsed, "fps"))
    if suffix in RECORDING_SUFFIXES:
        from .realsense import open_recording

        _check_options(parsed, "recording")
        return open_recording(path, uri=parsed.text, realtime=bool_option(parsed, "realtime", False),
                              align=bool_option(parsed, "align", True))
    if suffix in VIDEO_SUFFIXES:
        from .files import VideoSource

        _check_options(parsed, "video")
        if not path.is_file():
            raise FileNotFoundError(f"video file not found: {path}")
        return VideoSource(path, K=_camera_K(parsed), hfov_deg=float_option(parsed, "hfov"),
                           fps=float_option(parsed, "fps"), realtime=bool_option(parsed, "realtime", False),
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
        return SyntheticStereoSource(seed=int_option(parsed, "seed", 0, minimum=0),
                                     frames=int_option(parsed, "frames", 30), width=width,
                                     height=height, baseline_m=float_option(parsed, "baseline", 0.1),
                                     fps=float_option(parsed, "fps", 10.0),
                                     hfov_deg=float_option(parsed, "hfov", 70.0),
                                     realtime=bool_option(parsed, "realtime", False), uri=parsed.text)
    _check_options(parsed, "synthetic")
    return SyntheticSource(seed=int_option(parsed, "seed", 0, minimum=0),
                           frames=int_option(parsed, "frames", 60), width=width, height=height,
                           fps=float_option(parsed, "fps", 10.0), hfov_deg=float_option(parsed, "hfov"),
                           realtime=bool_option(parsed, "realtime", False), uri=parsed.text)


def _capture_options(parsed: SourceURI) -> dict:
    return dict(width=int_option(parsed, "width"), height=int_option(parsed, "height"),
                fps=float_option(parsed, "fps"), K=_camera_K(parsed), hfov_deg=float_option(parsed, "hfov"))


def _open_v4l2(parsed: SourceURI) -> Source:
    from .capture import open_v4l2

    _check_options(parsed, "v4l2")
    if not parsed.target:
        raise ValueError(f"{parsed.text}: expected v4l2:///dev/videoN or v4l2://N")
    return open_v4l2(parsed.target, parsed.text, **_capture_options(parsed))


def _open_csi(parsed: SourceURI) -> Source:
    from .capture import open_csi

    _check_options(parsed, "csi")
    return open_csi(parsed.target.strip("/"), parsed.text, flip=int_option(parsed, "flip", 0, 0),
                    **_capture_options(parsed))
