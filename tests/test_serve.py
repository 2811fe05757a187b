"""``edgegeo serve``: systemd notification (READY, STATUS, WATCHDOG only while frames flow,
STOPPING), /healthz and /metrics over HTTP, map save / reset, SIGTERM saves the map."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from edgegeo.runtime.service import Service, SystemdNotifier, parse_listen

REPO = Path(__file__).resolve().parents[1]
SOURCE = "synthetic://walkthrough?seed=3&frames=400&size=64x48&fps=20&realtime=1"


@pytest.fixture
def notify_socket(tmp_path):
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET; collects messages."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    messages = []
    done = threading.Event()

    def receive():
        while not done.is_set():
            try:
                messages.append((time.monotonic(), sock.recv(4096).decode()))
            except socket.timeout:
                continue
    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    yield path, messages
    done.set()
    thread.join(2)
    sock.close()


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _post(url):
    request = urllib.request.Request(url, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_as_a_notify_service_with_health_metrics_and_sigterm(tmp_path, notify_socket):
    path, messages = notify_socket
    port = _free_port()
    out = tmp_path / "serve"
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="2000000", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "edgegeo", "serve", "--source", SOURCE, "--out", str(out),
         "--device-profile", "cpu", "--http", f"127.0.0.1:{port}"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any("READY=1" in m for _, m in messages):
            assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
            time.sleep(0.1)
        time.sleep(1.5)
        code, body = _get(f"http://127.0.0.1:{port}/healthz")
        health = json.loads(body)
        assert code == 200 and health["status"] == "ok" and health["frames"] > 0
        code, metrics = _get(f"http://127.0.0.1:{port}/metrics")
        assert code == 200 and "edgegeo_frames_total" in metrics
        assert 'edgegeo_stage_seconds_bucket{le="0.01",stage="fuse"}' in metrics
        assert "edgegeo_up 1.0" in metrics
        code, saved = _post(f"http://127.0.0.1:{port}/map/save")
        assert code == 200 and saved["saved"] and (out / "mesh.ply").is_file()
        before = json.loads(_get(f"http://127.0.0.1:{port}/healthz")[1])["map_frames"]
        code, reset = _post(f"http://127.0.0.1:{port}/map/reset")
        after = json.loads(_get(f"http://127.0.0.1:{port}/healthz")[1])["map_frames"]
        assert code == 200 and reset["reset"] and after < before
        assert _get(f"http://127.0.0.1:{port}/nothing")[0] == 404
        process.send_signal(signal.SIGHUP)                # not reloadable: says so, runs on
        time.sleep(0.5)
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = process.stderr.read()
    assert process.returncode == 0, stderr
    assert "SIGHUP: the configuration is not reloadable" in stderr
    sent = "\n".join(m for _, m in messages)
    assert "READY=1" in sent and "WATCHDOG=1" in sent and "STATUS=ok:" in sent
    assert "STOPPING=1" in sent
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stop_reason"] == "SIGTERM" and stats["finished"]
    assert (out / "mesh.ply").stat().st_mtime >= (out / "stats.json").stat().st_mtime - 5


@pytest.mark.usefixtures("one_torch_thread")
def test_a_hung_pipeline_stops_the_watchdog(tmp_path, notify_socket):
    """A stage that blocks after 5 frames: WATCHDOG pings stop (systemd would restart the
    service), /healthz turns degraded → 503 once frames have stopped for a while."""
    from edgegeo.runtime import service as service_module
    from edgegeo.runtime.assembly import RunSpec, assemble_run

    path, messages = notify_socket
    release = threading.Event()
    seen = []

    def hang_after_five(packet):
        seen.append(packet.index)
        if len(seen) > 5:
            release.wait(60)
        return packet
    hang_after_five.name = "hang"
    spec = RunSpec(source=SOURCE, pipeline="gt", fuse=False, profile="cpu")
    with assemble_run(spec) as assembled:
        assembled.stages.append(hang_after_five)
        service = Service(assembled, tmp_path, http=("127.0.0.1", 0),
                          notifier=SystemdNotifier(path), status_every_s=0.2)
        stall = service_module.STALL_S
        service_module.STALL_S = 1.5
        results = {}

        def observe():
            deadline = time.monotonic() + 30
            while len(seen) <= 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            hung_at = time.monotonic()
            time.sleep(3.0)
            port = service.server.server_address[1]
            results["health"] = _get(f"http://127.0.0.1:{port}/healthz")
            results["late_pings"] = [t for t, m in messages if "WATCHDOG=1" in m
                                     and t > hung_at + 0.5]
            results["early_pings"] = [t for t, m in messages if "WATCHDOG=1" in m
                                      and t < hung_at]
            service.state.pipeline.stop("test over")
            release.set()
        watcher = threading.Thread(target=observe)
        watcher.start()
        try:
            service.run(policy="block")
        finally:
            service_module.STALL_S = stall
            release.set()
            watcher.join(10)
    assert results["early_pings"] and not results["late_pings"]
    code, body = results["health"]
    assert code == 503 and json.loads(body)["status"] == "degraded"


def test_notifier_and_listen_address():
    assert SystemdNotifier(socket_path="").notify(ready=1) is False     # not under systemd
    assert parse_listen("8080") == ("127.0.0.1", 8080)
    assert parse_listen("0.0.0.0:9") == ("0.0.0.0", 9)
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        parse_listen("localhost:http")


def test_config_file_and_flags(tmp_path, capsys):
    from edgegeo.cli import main

    config = tmp_path / "serve.toml"
    config.write_text('source = "synthetic://walkthrough"\nvoxel = 0.1\n')
    assert main(["serve", "--config", str(config)]) == 2
    assert "unknown key 'voxel'" in capsys.readouterr().err
    config.write_text('fuse = "yes"\n')
    assert main(["serve", "--config", str(config)]) == 2
    assert "fuse must be a bool" in capsys.readouterr().err
    assert main(["serve"]) == 2 and "no source" in capsys.readouterr().err


@pytest.mark.usefixtures("one_torch_thread")
def test_health_says_reconnecting_while_the_camera_is_away(tmp_path, notify_socket):
    """A RealSense software device unplugged mid-stream: /healthz turns 'reconnecting' (503)
    and the watchdog keeps being pinged (the source is alive); plugged back in, 'ok' again."""
    import numpy as np

    from edgegeo.geometry import K_from_fov
    from edgegeo.runtime import service as service_module
    from edgegeo.runtime.assembly import RunSpec, assemble_run
    from edgegeo.runtime.sources import SoftwareCamera

    path, messages = notify_socket
    size = (64, 48)
    camera = SoftwareCamera(K_from_fov(*size, 69.0), size, K_from_fov(*size, 69.0), size,
                            depth_units=0.001, baseline_m=0.05)
    source = camera.open_source(timeout_s=0.2, reconnect_after=2, reconnect_timeout_s=10)
    rgb = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    depth = np.full((48, 64), 2.0, np.float32)
    ir = np.zeros((48, 64), np.uint8)
    plugged, stop, seen = threading.Event(), threading.Event(), {}
    plugged.set()

    def feed():
        while not stop.is_set():
            if plugged.is_set():
                camera.push(rgb, depth, ir, ir)
            time.sleep(0.05)

    stall = service_module.STALL_S
    service_module.STALL_S = 1.5
    with assemble_run(RunSpec(source=source, pipeline="gt", profile="cpu")) as assembled:
        service = Service(assembled, tmp_path, http=("127.0.0.1", 0),
                          notifier=SystemdNotifier(path), status_every_s=0.2)

        def scenario():
            port = lambda: service.server.server_address[1]   # noqa: E731
            time.sleep(2.0)
            seen["before"] = json.loads(_get(f"http://127.0.0.1:{port()}/healthz")[1])
            plugged.clear()
            camera.disconnect()
            time.sleep(2.5)
            seen["away"] = _get(f"http://127.0.0.1:{port()}/healthz")
            away_from = time.monotonic() - 1.0
            seen["pings_away"] = [t for t, m in messages if "WATCHDOG=1" in m and t > away_from]
            camera.reconnect()
            plugged.set()
            time.sleep(3.0)
            seen["back"] = json.loads(_get(f"http://127.0.0.1:{port()}/healthz")[1])
            service.state.pipeline.stop("test over")
            stop.set()

        threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=scenario)]
        for thread in threads:
            thread.start()
        try:
            service.run()
        finally:
            service_module.STALL_S = stall
            stop.set()
            camera.close()
            threads[1].join(15)
    assert seen["before"]["status"] == "ok"
    code, body = seen["away"]
    assert code == 503 and json.loads(body)["status"] == "reconnecting"
    assert seen["pings_away"], "the watchdog must keep going while the camera reconnects"
    assert seen["back"]["status"] == "ok" and seen["back"]["frames"] > seen["before"]["frames"]
