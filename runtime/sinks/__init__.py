"""Where a pipeline's results go. Each sink has ``write(packet)`` (called for every packet that
leaves the last stage) and optionally ``open(info)``, ``tick()`` (called often, for periodic
work) and ``close()`` (end of stream, including SIGINT/SIGTERM: final saves).

* :class:`MapSink` (``ply://``) — fused mesh and point cloud (PLY) of the run's
  :class:`~edgegeo.runtime.map.LiveMap`, saved every ``every_s`` seconds and on exit,
  atomically (a crash never leaves a half-written file).
* :class:`DepthFramesSink` (``png16://``, ``npy://``) — depth frames as 16-bit PNG in
  millimetres or ``.npy`` metres.
* :class:`DepthVideoSink` (``mp4://``) — colour-mapped depth (beside the RGB) as an mp4 video.
* :class:`RosBagSink` (``mcap://``) — a ROS 2 bag (MCAP) with ``sensor_msgs/Image`` (rgb8
  colour, 16UC1 depth in mm), ``CameraInfo``, camera pose and ``/tf``, and the fused map as
  ``PointCloud2``; Foxglove Studio and ``ros2 bag`` open it.
* :class:`TrajectorySink` (``tum://``) — the camera poses as a TUM trajectory file.

:func:`open_sink` opens one by URI (:mod:`.uri`).
"""
from .base import Sink
from .depth import DepthFramesSink, DepthVideoSink
from .map import MapSink
from .rosbag import RosBagSink
from .trajectory import TrajectorySink
from .uri import SCHEMES, open_sink, parse_sink_uri

__all__ = ["open_sink", "parse_sink_uri", "SCHEMES", "Sink", "MapSink", "DepthFramesSink",
           "DepthVideoSink", "RosBagSink", "TrajectorySink"]
