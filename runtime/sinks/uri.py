"""Open a sink by URI, as :func:`~edgegeo.runtime.sources.open_source` opens a source.

=========================================  =========================================================
URI                                        sink
=========================================  =========================================================
``ply://DIR``                              :class:`~.map.MapSink`: the fused map as ``DIR/mesh.ply``
                                           and ``DIR/cloud.ply``; ``every`` (seconds between saves
                                           while streaming, default 30; 0 = only at the end),
                                           ``mesh``, ``cloud`` (0 leaves that file out). Needs the
                                           run's map (fusion on).
``png16://DIR`` / ``npy://DIR``            :class:`~.depth.DepthFramesSink`: every depth frame as
                                           ``DIR/<index>.png`` (16-bit mm) or ``.npy`` (float32 m);
                                           ``every`` (keep one frame in N, default 1).
``mp4://PATH``                             :class:`~.depth.DepthVideoSink`: colour-mapped depth as
                                           an mp4 video; ``fps`` (default the source's, else 10),
                                           ``max_depth`` (metres at the end of the colour map;
                                           default the map's depth range, else from the first
                                           frame), ``rgb`` (0: depth alone).
``mcap://DIR``                             :class:`~.rosbag.RosBagSink`: a ROS 2 bag (MCAP) in the
                                           folder DIR; ``map_every`` (seconds between map clouds,
                                           default 10; 0 = only at the end; the map cloud needs
                                           fusion on), ``max_points`` (map cloud size, default
                                           200000).
``zenoh://ENDPOINT``                       :class:`~.ros2_zenoh.ZenohRos2Sink`: live ROS 2 topics in
                                           rmw_zenoh's format, listening on ENDPOINT (e.g.
                                           ``zenoh://tcp/127.0.0.1:7447``); ``connect`` (an
                                           endpoint to connect to as well), ``domain`` (ROS domain,
                                           default 0), ``node`` (default edgegeo), ``map_every``
                                           (seconds, default 2).
``ros2://NODE``                            :class:`~.ros2_node.Ros2NodeSink`: the same topics from an
                                           rclpy node (machines with ROS 2 installed);
                                           ``namespace``, ``map_every``.
``tum://PATH``                             :class:`~.trajectory.TrajectorySink`: the camera poses
                                           (tracked, else the source's) as a TUM trajectory file;
                                           ``every`` (seconds between rewrites, default 5; 0 = only
                                           at the end).
=========================================  =========================================================

Options follow ``?`` as ``key=value`` pairs joined by ``&``; paths may be relative.
"""
from __future__ import annotations

from pathlib import Path

from ..map import LiveMap
from ..uri import URI, bool_option, check_options, float_option, int_option, parse_uri
from .base import Sink

SCHEMES = ("ply", "png16", "npy", "mp4", "mcap", "tum", "zenoh", "ros2")
EXAMPLE = ("ply://out/run, png16://out/run/depth, mp4://out/run/depth.mp4, mcap://out/run/bag, "
           "tum://out/run/trajectory.txt")

_OPTIONS = {
    "ply": {"every", "mesh", "cloud"},
    "png16": {"every"},
    "npy": {"every"},
    "mp4": {"fps", "max_depth", "rgb"},
    "mcap": {"map_every", "max_points"},
    "tum": {"every"},
    "zenoh": {"connect", "domain", "node", "map_every"},
    "ros2": {"namespace", "map_every"},
}


def parse_sink_uri(uri: str) -> URI:
    """Split a sink URI into scheme, target and options (no I/O).

    Raises:
        ValueError: empty URI, no or unknown scheme, unknown option for the scheme, no target.
    """
    parsed = parse_uri(uri, SCHEMES, "sink", EXAMPLE)
    check_options(parsed, _OPTIONS[parsed.scheme], f"{parsed.scheme}:// sink")
    if not parsed.target:
        raise ValueError(f"{parsed.text}: no path after {parsed.scheme}://")
    return parsed


def open_sink(uri: str, live_map: LiveMap | None = None, fps: float | None = None) -> Sink:
    """The sink ``uri`` names (see the module docstring for the URIs).

    Args:
        uri: the sink URI.
        live_map: the run's map (None when the run does not fuse): what ``ply://`` saves and
            ``mcap://`` writes as map clouds.
        fps: the source's frame rate, the default of ``mp4://``'s ``fps``.
    Returns:
        The sink, not yet opened (the pipeline opens and closes it).
    Raises:
        ValueError: malformed URI, unknown scheme or option, bad option value, ``ply://``
            without a map.
    """
    parsed = parse_sink_uri(uri)
    path = Path(parsed.target).expanduser()
    if parsed.scheme == "ply":
        from .map import MapSink

        options = dict(every_s=float_option(parsed, "every", 30.0, True),
                       mesh=bool_option(parsed, "mesh", True),
                       cloud=bool_option(parsed, "cloud", True))
        if live_map is None:
            raise ValueError(f"{parsed.text}: ply:// saves the fused map, and this run does not "
                             "fuse (edgegeo run --fuse)")
        return MapSink(live_map, path, **options)
    if parsed.scheme in ("png16", "npy"):
        from .depth import DepthFramesSink

        return DepthFramesSink(path, fmt=parsed.scheme, every=int_option(parsed, "every", 1))
    if parsed.scheme == "mp4":
        from .depth import DepthVideoSink

        return DepthVideoSink(path, fps=float_option(parsed, "fps", fps or 10.0),
                              max_depth=float_option(parsed, "max_depth", live_map and
                                                     live_map.config.max_depth),
                              with_rgb=bool_option(parsed, "rgb", True))
    if parsed.scheme == "zenoh":
        from .ros2_zenoh import ZenohRos2Sink

        return ZenohRos2Sink(parsed.target, connect=parsed.options.get("connect"),
                             live_map=live_map, domain_id=int_option(parsed, "domain", 0, 0),
                             node=parsed.options.get("node", "edgegeo"),
                             map_every_s=float_option(parsed, "map_every", 2.0, True))
    if parsed.scheme == "ros2":
        from .ros2_node import Ros2NodeSink

        return Ros2NodeSink(parsed.target, namespace=parsed.options.get("namespace", ""),
                            live_map=live_map,
                            map_every_s=float_option(parsed, "map_every", 2.0, True))
    if parsed.scheme == "tum":
        from .trajectory import TrajectorySink

        return TrajectorySink(path, every_s=float_option(parsed, "every", 5.0, True))
    from .rosbag import RosBagSink

    return RosBagSink(path, live_map=live_map,
                      map_every_s=float_option(parsed, "map_every", 10.0, True),
                      max_map_points=int_option(parsed, "max_points", 200_000))
