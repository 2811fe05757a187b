"""``edgegeo serve``: one pipeline run as a supervised service — systemd notification
(``Type=notify``: ``READY``, ``STATUS``, ``WATCHDOG``, ``STOPPING``), health and Prometheus
metrics over HTTP on a local port, map save / reset on request.

* **systemd**: the sd_notify datagram protocol (``man sd_notify``), written here in a few lines
  rather than depending on the unmaintained ``sdnotify`` package: one ``AF_UNIX`` datagram of
  ``KEY=VALUE`` lines to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace).
  ``READY=1`` once the model is loaded and the first frame came out of the pipeline;
  ``WATCHDOG=1`` only while frames keep coming out (a hung pipeline stops pinging and systemd's
  ``WatchdogSec=`` restarts it), or while the camera is being reconnected (the source is alive);
  ``STATUS=`` the progress line; ``STOPPING=1`` when a stop begins.
* **HTTP** (``ThreadingHTTPServer``, 127.0.0.1 by default): ``GET /healthz`` → JSON, 200 when
  ``ok``, 503 otherwise (``starting``, ``reconnecting``, ``degraded``, ``stopping``);
  ``GET /metrics`` → Prometheus text (``prometheus_client``): ``edgegeo_``-prefixed counters,
  gauges and per-stage latency histograms; ``POST /map/save``, ``POST /map/reset``.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger("edgegeo.serve")

STALL_S = 30.0
"""No frame out for this long → ``degraded`` (and no more watchdog pings)."""


# ------------------------------------------------------------------------------ systemd
class SystemdNotifier:
    """sd_notify over ``$NOTIFY_SOCKET`` (no-op when systemd did not set it).

    Attributes:
        watchdog_s: the watchdog period systemd asked for (``$WATCHDOG_USEC``), or None.
    """

    def __init__(self, socket_path: str | None = None):
        path = socket_path if socket_path is not None else os.environ.get("NOTIFY_SOCKET")
        self.address = ("\0" + path[1:]) if path and path.startswith("@") else path
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        mine = pid is None or pid == str(os.getpid())
        self.watchdog_s = int(usec) / 1e6 if usec and usec.isdigit() and mine else None
        self.sent: list[str] = []

    def notify(self, **fields) -> bool:
        """Send ``KEY=VALUE`` lines (``ready=1`` → ``READY=1``); True if sent."""
        if not self.address:
            return False
        message = "\n".join(f"{key.upper()}={value}" for key, value in fields.items())
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto(message.encode(), self.address)
            except OSError as exc:
                log.warning("sd_notify to %s failed: %s", self.address, exc)
                return False
        self.sent.append(message)
        return True


# ------------------------------------------------------------------------------- health
class ServiceState:
    """What the service knows of its pipeline, updated from the pipeline's progress callback
    and its sinks; read by the HTTP handlers and the notifier."""

    def __init__(self, live_map=None, out: Path | None = None):
        self.started = time.monotonic()
        self.live_map = live_map
        self.out = out
        self.stats = None            # the pipeline's RuntimeStats, once running
        self.pipeline = None
        self.frames_out = 0
        self.last_frame_time: float | None = None
        self.source_state = "streaming"
        self.stopping = False
        self.lock = threading.Lock()

    def frame_out(self) -> None:
        with self.lock:
            self.frames_out += 1
            self.last_frame_time = time.monotonic()

    def observe_source(self, description: dict) -> None:
        """Note the source's state (``streaming``; a live camera ``waiting`` or
        ``reconnecting``)."""
        with self.lock:
            self.source_state = description.get("state", "streaming")

    def status(self) -> str:
        """``starting``, ``ok``, ``reconnecting``, ``degraded`` or ``stopping``."""
        now = time.monotonic()
        with self.lock:
            if self.stopping:
                return "stopping"
            if self.last_frame_time is None:
                return "starting"
            quiet = now - self.last_frame_time
            camera_away = self.source_state in ("waiting", "reconnecting")
        if quiet < STALL_S / 3:
            return "ok"
        return "reconnecting" if camera_away else "degraded"

    def health(self) -> dict:
        """The ``/healthz`` JSON."""
        snapshot = self.stats.snapshot() if self.stats is not None else {}
        return dict(status=self.status(), frames=self.frames_out,
                    fps=round(snapshot.get("fps_now", 0.0), 2),
                    dropped=snapshot.get("dropped", 0), errors=snapshot.get("errors", 0),
                    uptime_s=round(time.monotonic() - self.started, 1),
                    map_frames=self.live_map.frames_integrated if self.live_map else None)


# ------------------------------------------------------------------------------ metrics
class MetricsSink:
    """A sink that feeds Prometheus: frames out, per-stage latency histograms; and tells the
    service that a frame went through (its ``frame_out``), which is what READY and the
    watchdog wait for."""

    name = "metrics"

    def __init__(self, state: ServiceState, registry):
        from prometheus_client import Counter, Histogram

        self.state = state
        self.frames = Counter("edgegeo_frames", "Frames out of the pipeline", registry=registry)
        self.stage_seconds = Histogram(
            "edgegeo_stage_seconds", "Service time of each stage per frame", ["stage"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry)

    def write(self, packet) -> None:
        self.frames.inc()
        for stage, seconds in packet.timings.items():
            self.stage_seconds.labels(stage).observe(seconds)
        self.state.frame_out()


class _StatsCollector:
    """Gauges and counters read from the pipeline's stats at scrape time."""

    def __init__(self, state: ServiceState):
        self.state = state

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        snapshot = self.state.stats.snapshot() if self.state.stats is not None else None
        up = GaugeMetricFamily("edgegeo_up", "1 when the service status is ok")
        up.add_metric([], 1.0 if self.state.status() == "ok" else 0.0)
        yield up
        if snapshot is None:
            return
        for name, help_text, value in (
                ("edgegeo_dropped_frames", "Frames dropped by full queues", snapshot["dropped"]),
                ("edgegeo_errors", "Frames a stage rejected or failed on", snapshot["errors"])):
            family = CounterMetricFamily(name, help_text)
            family.add_metric([], float(value))
            yield family
        for name, help_text, value in (
                ("edgegeo_fps", "Frames per second, recent", snapshot["fps_now"]),
                ("edgegeo_rss_bytes", "Resident memory", snapshot["memory"]["rss_mib"] * 2**20),
                ("edgegeo_uptime_seconds", "Seconds since the service started",
                 time.monotonic() - self.state.started),
                ("edgegeo_map_frames", "Frames fused into the map",
                 self.state.live_map.frames_integrated if self.state.live_map else 0)):
            family = GaugeMetricFamily(name, help_text)
            family.add_metric([], float(value))
            yield family


# --------------------------------------------------------------------------------- HTTP
def parse_listen(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``PORT``: 127.0.0.1) → ``(host, port)``; ValueError if malformed."""
    host, _, port = address.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"--http {address!r}: expected HOST:PORT, e.g. 127.0.0.1:8080") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"--http {address!r}: port must be 0-65535")
    return host or "127.0.0.1", number


def start_http(state: ServiceState, registry, address: tuple[str, int]) -> ThreadingHTTPServer:
    """Serve ``/healthz``, ``/metrics``, ``/map/save``, ``/map/reset`` on ``address`` in a
    daemon thread; returns the server (``server_address`` has the bound port)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, content_type: str = "application/json"):
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, payload: dict):
            self._send(code, (json.dumps(payload) + "\n").encode())

        def do_GET(self):  # noqa: N802 - http.server's name
            if self.path == "/healthz":
                health = state.health()
                self._json(200 if health["status"] == "ok" else 503, health)
            elif self.path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            else:
                self._json(404, {"error": f"no {self.path}; try /healthz or /metrics"})

        def do_POST(self):  # noqa: N802
            if self.path not in ("/map/save", "/map/reset"):
                self._json(404, {"error": f"no {self.path}; try /map/save or /map/reset"})
            elif state.live_map is None:
                self._json(409, {"error": "this service does not fuse a map (--fuse)"})
            elif self.path == "/map/save":
                mesh = state.live_map.save(state.out / "mesh.ply", state.out / "cloud.ply",
                                           require_surface=True)
                self._json(200, {"saved": mesh is not None,
                                 "frames": state.live_map.frames_integrated})
            else:
                state.live_map.reset()
                self._json(200, {"reset": True})

        def log_message(self, fmt, *args):      # journald-friendly, through logging
            log.info("http %s %s", self.address_string(), fmt % args)

    server = ThreadingHTTPServer(address, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="edgegeo-http", daemon=True).start()
    return server


# ------------------------------------------------------------------------------ service
class Service:
    """Run an assembled pipeline (:func:`~edgegeo.runtime.assembly.assemble_run`) as a
    service (see the module docstring).

    Args:
        assembled: the :class:`~edgegeo.runtime.assembly.AssembledRun`.
        out: the output folder (stats.json, the map saved on request).
        http: ``(host, port)`` to serve health / metrics on, or None.
        notifier: the :class:`SystemdNotifier` (default: from the environment).
        status_every_s: how often ``STATUS`` and the watchdog are refreshed.
    """

    def __init__(self, assembled, out: Path, http: tuple[str, int] | None = ("127.0.0.1", 0),
                 notifier: SystemdNotifier | None = None, status_every_s: float = 1.0):
        from prometheus_client import CollectorRegistry

        self.assembled = assembled
        self.out = Path(out)
        self.notifier = notifier or SystemdNotifier()
        self.state = ServiceState(assembled.live_map, self.out)
        self.registry = CollectorRegistry()
        self.registry.register(_StatsCollector(self.state))
        self.metrics_sink = MetricsSink(self.state, self.registry)
        self.http_address = http
        self.server: ThreadingHTTPServer | None = None
        self.status_every_s = status_every_s
        self._ready = self._stopping_sent = False
        self._last_ping_frames = 0

    def run(self, info: dict | None = None, **pipeline_options) -> int:
        """Serve until the source ends or a stop signal; returns the exit code (0, or 1 when
        the source failed)."""
        import signal

        if self.http_address is not None:
            self.server = start_http(self.state, self.registry, self.http_address)
            host, port = self.server.server_address[:2]
            log.info("health on http://%s:%d/healthz, metrics on /metrics", host, port)
        self.assembled.sinks.append(self.metrics_sink)
        pipeline = self.assembled.pipeline(info=info, stats_path=self.out / "stats.json",
                                           progress=self._progress,
                                           progress_every_s=self.status_every_s,
                                           **pipeline_options)
        self.state.stats, self.state.pipeline = pipeline.stats, pipeline
        previous = signal.signal(signal.SIGHUP, self._sighup)
        try:
            stats = pipeline.run()
        finally:
            signal.signal(signal.SIGHUP, previous)
            self._stop_notice()
            if self.server is not None:
                self.server.shutdown()
                self.server.server_close()
        failed = stats.snapshot()["events"]["counts"].get("source-failed", 0)
        return 1 if failed else 0

    def _progress(self, line: str) -> None:
        """The pipeline's progress callback (its supervising thread): READY, STATUS,
        WATCHDOG, STOPPING."""
        self.state.observe_source(self.assembled.source.describe())
        if self.state.pipeline is not None and self.state.pipeline.stopping:
            self._stop_notice()
            return
        status = self.state.status()
        fields = {"status": f"{status}: {line}"}
        if not self._ready and self.state.frames_out > 0:
            self._ready = True
            fields["ready"] = 1
            log.info("ready: first frame through the pipeline")
        frames = self.state.frames_out
        if frames > self._last_ping_frames or status == "reconnecting":
            fields["watchdog"] = 1                # only while work gets done
            self._last_ping_frames = frames
        self.notifier.notify(**fields)

    def _stop_notice(self) -> None:
        if not self._stopping_sent:
            self._stopping_sent = True
            self.state.stopping = True
            self.notifier.notify(stopping=1, status="stopping: draining, saving the map")

    def _sighup(self, signum, frame) -> None:
        log.warning("SIGHUP: the configuration is not reloadable while running; restart the "
                    "service to apply it (the map is saved on stop)")
