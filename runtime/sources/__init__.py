"""Frame sources of the runtime, opened by URI with :func:`open_source`.

Every source yields :class:`SourceRecord` (a :class:`~edgegeo.data.frame.Frame` plus the
right image of a stereo pair, the infrared pair and the depth scale where the source has them)
and reports dropped or corrupt frames instead of dying; see :mod:`.uri` for the URIs and
:mod:`.base` for the contract.

    with open_source("synthetic://walkthrough?seed=3&frames=30&size=256x192") as source:
        for record in source:
            frame = record.frame          # rgb, K, depth (m), world_T_cam, timestamp
"""
from .base import Pacer, Source, SourceCounters, SourceError, SourceRecord, intrinsics_for
from .uri import SCHEMES, SourceURI, open_source, parse_uri

__all__ = ["open_source", "parse_uri", "SourceURI", "SCHEMES", "Source", "SourceRecord",
           "SourceCounters", "SourceError", "Pacer", "intrinsics_for",
           "RealSenseSource", "SoftwareCamera", "SyntheticSource", "SyntheticStereoSource",
           "VideoSource", "ImageFolderSource", "PosedFolderSource", "CaptureSource"]


def __getattr__(name):
    # Heavy or optional imports (pyrealsense2, the scene engine) only when asked for.
    modules = {"RealSenseSource": ".realsense", "SoftwareCamera": ".software_camera",
               "SyntheticSource": ".synthetic", "SyntheticStereoSource": ".synthetic",
               "VideoSource": ".files", "ImageFolderSource": ".files",
               "PosedFolderSource": ".files", "CaptureSource": ".capture"}
    if name in modules:
        import importlib

        return getattr(importlib.import_module(modules[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
