"""``edgegeo bench soak``: a long run of the service's pipeline — does anything grow?

A held-out walk-through (``TEST_SEEDS[0]``, 60 frames at 160×120) is replayed back and forth
(so poses stay continuous and the map stays the same room) for ``frames`` frames through the
``gt`` pipeline with fusion (cpu profile) and the live ROS 2 zenoh sink on 127.0.0.1, as
fast as the stages go. Every ``sample_s`` seconds: resident memory, open file descriptors,
threads, frames out and zenoh messages published. Leak criteria: RSS growth after warm-up
(the first 20 % of the frames) ≤ 5 %, file descriptors and threads flat.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import numpy as np

from edgegeo.data.splits import TEST_SEEDS

WARMUP_FRACTION = 0.2
MAX_RSS_GROWTH = 0.05


def _loop_source(frames: list, total: int):
    """A source replaying ``frames`` forward then backward until ``total`` frames, with
    increasing timestamps (15 fps)."""
    import dataclasses

    from edgegeo.runtime.sources.base import Source, SourceRecord

    order = list(range(len(frames))) + list(range(len(frames) - 2, 0, -1))

    class LoopSource(Source):
        kind = "soak"
        has_depth = True
        has_pose = True

        def __len__(self) -> int:
            return total

        def _records(self) -> Iterator[SourceRecord]:
            for index in range(total):
                frame = dataclasses.replace(frames[order[index % len(order)]],
                                            timestamp=index / 15.0)
                yield SourceRecord(frame, index)

    return LoopSource(f"soak://{total}")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def run_soak(frames: int = 10_000, sample_s: float = 1.0, progress=print) -> dict:
    """Run the soak; returns ``samples`` (``[{t, frames, rss_mib, fds, threads,
    messages}]``) and the verdict figures (see the module docstring)."""
    import socket

    from edgegeo.data.synthetic import generate_scene, walkthrough
    from edgegeo.runtime.assembly import RunSpec, assemble_run
    from edgegeo.runtime.sinks.ros2_zenoh import ZenohRos2Sink
    from edgegeo.runtime.stats import memory_mib

    seed = TEST_SEEDS[0]
    walk = walkthrough(generate_scene(seed), 60, 160, 120, seed=seed, fps=15, progress=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    samples, done = [], threading.Event()
    with assemble_run(RunSpec(source=_loop_source(walk, frames), pipeline="gt", fuse=True,
                              profile="cpu")) as run:
        zenoh_sink = ZenohRos2Sink(listen=f"tcp/127.0.0.1:{port}", live_map=run.live_map)
        run.sinks.append(zenoh_sink)
        pipeline = run.pipeline(policy="block")
        start = time.monotonic()

        def sample():
            while not done.wait(sample_s):
                samples.append(dict(t=time.monotonic() - start,
                                    frames=pipeline.stats.frames_out,
                                    rss_mib=memory_mib()[0], fds=_open_fds(),
                                    threads=threading.active_count(),
                                    messages=sum(zenoh_sink.counts.values())))
                if len(samples) % 30 == 0:
                    last = samples[-1]
                    progress(f"  {last['frames']} frames, RSS {last['rss_mib']:.0f} MiB, "
                             f"{last['fds']} fds, {last['threads']} threads")
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stats = pipeline.run(handle_signals=False)
        done.set()
        sampler.join(5)
    return dict(samples=samples, **verdict(samples, frames), fps=stats.fps())


def verdict(samples: list[dict], frames: int) -> dict:
    """RSS growth after warm-up, fd / thread ranges, fps and message rate per window."""
    steady = [s for s in samples if s["frames"] >= WARMUP_FRACTION * frames]
    if len(steady) < 2:
        raise ValueError("the soak was too short to judge: give more --frames")
    rss = np.array([s["rss_mib"] for s in steady])
    t = np.array([s["t"] for s in steady])
    counts = np.array([s["frames"] for s in steady])
    messages = np.array([s["messages"] for s in steady])
    return dict(rss_start_mib=float(rss[0]), rss_end_mib=float(rss[-1]),
                rss_growth=float(rss[-1] / rss[0] - 1),
                fds=(min(s["fds"] for s in steady), max(s["fds"] for s in steady)),
                threads=(min(s["threads"] for s in steady), max(s["threads"] for s in steady)),
                fps_steady=float((counts[-1] - counts[0]) / (t[-1] - t[0])),
                messages_per_s=float((messages[-1] - messages[0]) / (t[-1] - t[0])))


def save_plot(result: dict, path) -> None:
    """RSS (MiB) and fps against frames, as a PNG."""
    from edgegeo.viz import line_plot, save_png

    samples = result["samples"]
    frames = np.array([s["frames"] for s in samples], float)
    t = np.array([s["t"] for s in samples])
    fps = np.gradient(frames, t) if len(t) > 1 else np.zeros_like(t)
    save_png(path, line_plot(frames, {"RSS MiB": np.array([s["rss_mib"] for s in samples]),
                                      "fps": fps},
                             f"soak: RSS growth after warm-up {result['rss_growth'] * 100:+.1f} %"))


def report_body(result: dict, frames: int, picture: str | None) -> str:
    from edgegeo.bench_report import markdown_table

    row = {"frames": frames, "RSS after warm-up → end (MiB)":
           f"{result['rss_start_mib']:.0f} → {result['rss_end_mib']:.0f}",
           "RSS growth": f"{result['rss_growth'] * 100:+.1f} %",
           "open fds (min–max)": "{}–{}".format(*result["fds"]),
           "threads (min–max)": "{}–{}".format(*result["threads"]),
           "fps (steady)": f"{result['fps_steady']:.0f}",
           "zenoh messages/s": f"{result['messages_per_s']:.0f}"}
    lines = [f"A held-out walk-through replayed back and forth for {frames} frames through "
             "`gt` + fusion (cpu profile) + the zenoh ROS 2 sink on 127.0.0.1, as fast as the "
             f"stages go; warm-up = the first {WARMUP_FRACTION:.0%} of the frames. Criteria: "
             f"RSS growth ≤ {MAX_RSS_GROWTH:.0%}, fds and threads flat.", "",
             markdown_table([row])]
    if picture:
        lines += ["", f"![soak]({picture})"]
    return "\n".join(lines)
