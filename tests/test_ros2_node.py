"""The rclpy node sink: on a machine with ROS 2 (``-m ros``) a subscriber in the same process
receives the Image; here, without rclpy, ``ros2://`` is refused with a clear message."""
import pytest


def test_without_ros_the_sink_says_what_to_use():
    try:
        import rclpy  # noqa: F401
    except ImportError:
        from edgegeo.runtime.sinks import open_sink

        with pytest.raises(ValueError, match="zenoh://ENDPOINT publishes the same topics"):
            open_sink("ros2://edgegeo")
    else:
        pytest.skip("rclpy imports here: the ros-marked test covers the sink")


@pytest.mark.ros
def test_a_ros2_subscriber_receives_the_image():
    rclpy = pytest.importorskip("rclpy", reason="no ROS 2 installation (rclpy)")
    import threading
    import time

    from sensor_msgs.msg import Image

    from edgegeo.runtime.assembly import RunSpec, assemble_run

    rclpy.init()
    received = []
    listener = rclpy.create_node("edgegeo_test_listener")
    listener.create_subscription(Image, "/camera/color/image_raw", received.append, 10)
    spin = threading.Thread(target=rclpy.spin, args=(listener,), daemon=True)
    spin.start()
    spec = RunSpec(source="synthetic://walkthrough?frames=20&size=64x48&fps=10&realtime=1",
                   pipeline="gt", profile="cpu", sinks=("ros2://edgegeo",))
    with assemble_run(spec) as run:
        run.pipeline().run(handle_signals=False)
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.1)
    listener.destroy_node()
    rclpy.shutdown()
    assert received and (received[-1].height, received[-1].width) == (48, 64)
