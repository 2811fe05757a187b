"""ROS 2 topics over zenoh in rmw_zenoh's format: a zenoh subscriber on 127.0.0.1 receives the
daemon's Image, CameraInfo and Odometry, decodes them with rosbags, and finds the liveliness
tokens ROS 2 discovers them by."""
import socket
import threading
import time

import numpy as np
import pytest

zenoh = pytest.importorskip("zenoh")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_zenoh_subscriber_decodes_the_ros2_messages(tmp_path):
    import json

    from rosbags.typesys import Stores, get_typestore
    from zenoh.ext import Int64, UInt8, z_deserialize

    from edgegeo.runtime.assembly import RunSpec, assemble_run

    endpoint = f"tcp/127.0.0.1:{_free_port()}"
    uri = "synthetic://walkthrough?seed=3&frames=30&size=64x48&fps=15&realtime=1"
    spec = RunSpec(source=uri, pipeline="gt", fuse=True, profile="cpu", track=True,
                   sinks=(f"zenoh://{endpoint}?map_every=0.2",))
    store = get_typestore(Stores.ROS2_JAZZY)
    received: dict = {}
    lock = threading.Lock()

    def on_sample(sample):
        with lock:
            received.setdefault(str(sample.key_expr), []).append(
                (sample.payload.to_bytes(), sample.attachment))

    with assemble_run(spec) as run:
        thread = threading.Thread(target=lambda: run.pipeline().run(handle_signals=False))
        config = zenoh.Config()
        config.insert_json5("mode", '"peer"')
        config.insert_json5("scouting/multicast/enabled", "false")
        config.insert_json5("connect/endpoints", json.dumps([endpoint]))
        thread.start()
        time.sleep(1.0)                              # the sink opens with the first packet
        with zenoh.open(config) as session:
            subscriber = session.declare_subscriber("0/**", on_sample)
            deadline = time.monotonic() + 30
            while thread.is_alive() and time.monotonic() < deadline:
                tokens = [str(reply.ok.key_expr) for reply in
                          session.liveliness().get("@ros2_lv/0/**", timeout=2.0) if reply.ok]
                if tokens:
                    break
            thread.join(60)
            subscriber.undeclare()
    keys = sorted(received)
    image_key = next(k for k in keys if k.startswith("0/camera/color/image_raw/"))
    assert image_key == ("0/camera/color/image_raw/sensor_msgs::msg::dds_::Image_/"
                         + store.hash_rihs01("sensor_msgs/msg/Image"))
    payload, attachment = received[image_key][-1]
    image = store.deserialize_cdr(payload, "sensor_msgs/msg/Image")
    assert (image.height, image.width, image.encoding) == (48, 64, "rgb8")
    sequence, stamp, gid = z_deserialize(tuple[Int64, Int64, tuple[(UInt8,) * 16]], attachment)
    assert sequence > 0 and stamp > 0 and len(gid) == 16
    depth_key = next(k for k in keys if k.startswith("0/camera/depth/image_raw/"))
    depth = store.deserialize_cdr(received[depth_key][-1][0], "sensor_msgs/msg/Image")
    assert depth.encoding == "32FC1" and np.frombuffer(depth.data, np.float32).max() > 0
    info_key = next(k for k in keys if k.startswith("0/camera/color/camera_info/"))
    info = store.deserialize_cdr(received[info_key][-1][0], "sensor_msgs/msg/CameraInfo")
    assert info.width == 64 and info.k[0] > 0
    odometry_key = next(k for k in keys if k.startswith("0/edgegeo/odometry/"))
    odometry = store.deserialize_cdr(received[odometry_key][-1][0], "nav_msgs/msg/Odometry")
    assert odometry.child_frame_id == "camera_color_optical_frame"
    assert any(k.startswith("0/edgegeo/map/points/") for k in keys)
    assert any("/NN/%/%/edgegeo" in t for t in tokens)
    assert any("/MP/%/%/edgegeo/%camera%color%image_raw/sensor_msgs::msg::dds_::Image_/RIHS01_"
               in t for t in tokens)
