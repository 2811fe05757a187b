"""Live statistics of a running pipeline: per-stage latency (median / p95), throughput, dropped
and failed frames, queue depths, memory; a one-line progress display and ``stats.json``.

All updates are thread-safe (stage threads report, the main thread reads). Latencies keep the
last ``window`` samples per stage, so a daemon running for days stays small and its numbers
describe the recent past; totals count everything.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

MIB = 1024.0 * 1024.0


def memory_mib() -> tuple[float, float]:
    """``(rss, peak_rss)`` of this process in MiB (Linux ``/proc``; else ``resource``)."""
    try:
        fields = {}
        with open("/proc/self/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = float(value.split()[0]) / 1024.0      # kB
        return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)
    except OSError:                                    # pragma: no cover - non-Linux
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        return peak, peak


class Latency:
    """Latency samples (seconds) of one thing: the last ``window`` kept, totals counted."""

    def __init__(self, window: int = 2048):
        self.samples: deque[float] = deque(maxlen=window)
        self.count = 0
        self.total = 0.0

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)
        self.count += 1
        self.total += seconds

    def summary(self) -> dict:
        """``{"median_ms", "p95_ms", "mean_ms", "max_ms", "count", "total_s"}`` (ms of the
        window; zeros when empty)."""
        if not self.samples:
            return dict(median_ms=0.0, p95_ms=0.0, mean_ms=0.0, max_ms=0.0, count=self.count,
                        total_s=self.total)
        ms = 1000.0 * np.asarray(self.samples)
        return dict(median_ms=float(np.median(ms)), p95_ms=float(np.percentile(ms, 95)),
                    mean_ms=float(ms.mean()), max_ms=float(ms.max()), count=self.count,
                    total_s=self.total)


class StageStats:
    """Counters of one stage.

    Attributes:
        processed: packets the stage finished (passed on, skipped or filtered).
        filtered: packets the stage chose not to pass on (returned None).
        skipped: packets the stage passed on without doing its work (``Packet.skip``; e.g.
            mvs: not a keyframe); ``skip_reasons`` counts them per reason.
        errors: packets skipped because the stage raised (bad frame, exception).
        dropped: packets dropped from the stage's input queue because it was full (the stage
            was slower than its input).
        discarded: packets left in the stage's queue when a shutdown was forced.
        queue_max: the deepest the stage's input queue got.
        state: what the stage reports of itself (its ``status()``: e.g. tracking state and
            lost frames), None for stages that report nothing.
        latency: service time of the stage per packet.
        wait: time packets waited in the stage's input queue.
    """

    def __init__(self, name: str, queue_size: int, window: int):
        self.name = name
        self.queue_size = queue_size
        self.processed = self.filtered = self.skipped = 0
        self.errors = self.dropped = self.discarded = 0
        self.skip_reasons: dict[str, int] = {}
        self.queue_max = 0
        self.state: dict | None = None
        self.latency = Latency(window)
        self.wait = Latency(window)

    def as_dict(self) -> dict:
        return dict(processed=self.processed, filtered=self.filtered, skipped=self.skipped,
                    skip_reasons=dict(self.skip_reasons), errors=self.errors,
                    dropped=self.dropped, discarded=self.discarded, queue_size=self.queue_size,
                    queue_max=self.queue_max, latency=self.latency.summary(),
                    queue_wait=self.wait.summary(),
                    **({"state": self.state} if self.state is not None else {}))


class RuntimeStats:
    """Statistics of one pipeline run.

    Args:
        stage_queue_sizes: ``{stage name: input queue size}`` in pipeline order.
        window: latency samples kept per stage.
        max_events: problems kept (the most recent) for ``stats.json``.
    """

    def __init__(self, stage_queue_sizes: dict[str, int], window: int = 2048,
                 max_events: int = 200):
        self._lock = threading.Lock()
        self.stages = {name: StageStats(name, size, window)
                       for name, size in stage_queue_sizes.items()}
        self.start_time = time.time()
        self._t0 = time.perf_counter()
        self.end_time: float | None = None
        self.frames_in = 0
        self.frames_out = 0
        self.end_to_end = Latency(window)
        self.overhead = Latency(window)
        self.service_total = 0.0
        self._recent: deque[float] = deque(maxlen=64)        # completion times, for fps now
        self.events: deque[dict] = deque(maxlen=max_events)
        self.event_counts: dict[str, int] = {}
        self.peak_rss_mib = 0.0
        self.memory_budget_mib: float | None = None
        self.over_budget = False
        self.source: dict = {}
        self.info: dict = {}
        self.stop_reason: str | None = None

    # ---------------------------------------------------------------- recording
    def stage(self, name: str) -> StageStats:
        return self.stages[name]

    def count_in(self) -> None:
        with self._lock:
            self.frames_in += 1

    def record_stage(self, name: str, seconds: float, wait: float | None = None,
                     outcome: str = "ok", reason: str | None = None) -> None:
        """One packet through stage ``name``: ``outcome`` is ok / filtered / skipped (with its
        ``reason``) / error."""
        with self._lock:
            stage = self.stages[name]
            stage.processed += outcome != "error"
            stage.filtered += outcome == "filtered"
            stage.errors += outcome == "error"
            if outcome == "skipped":
                stage.skipped += 1
                stage.skip_reasons[reason] = stage.skip_reasons.get(reason, 0) + 1
            stage.latency.add(seconds)
            if wait is not None:
                stage.wait.add(wait)

    def record_drop(self, name: str, count: int = 1) -> None:
        with self._lock:
            self.stages[name].dropped += count

    def record_discard(self, name: str, count: int = 1) -> None:
        with self._lock:
            self.stages[name].discarded += count

    def record_queue_depth(self, name: str, depth: int) -> None:
        stage = self.stages[name]
        if depth > stage.queue_max:
            with self._lock:
                stage.queue_max = max(stage.queue_max, depth)

    def record_done(self, end_to_end: float, service: float, waits: float) -> None:
        """A packet left the pipeline: its source-to-done latency, the sum of its stage
        service times and of its queue waits (the rest is the runtime's own overhead)."""
        with self._lock:
            self.frames_out += 1
            self.end_to_end.add(end_to_end)
            self.service_total += service
            self.overhead.add(max(end_to_end - service - waits, 0.0))
            self._recent.append(time.perf_counter())

    def event(self, kind: str, message: str, stage: str | None = None,
              index: int | None = None) -> None:
        """A problem the run survived (bad frame, stage error, source drop, ...)."""
        with self._lock:
            self.event_counts[kind] = self.event_counts.get(kind, 0) + 1
            self.events.append(dict(time=round(time.time() - self.start_time, 3), kind=kind,
                                    stage=stage, index=index, message=message[:500]))

    def sample_memory(self) -> float:
        """Update the peak RSS; returns the current RSS in MiB."""
        rss, peak = memory_mib()
        self.peak_rss_mib = max(self.peak_rss_mib, peak, rss)
        if self.memory_budget_mib and rss > self.memory_budget_mib:
            self.over_budget = True
        return rss

    def finish(self, reason: str) -> None:
        self.end_time = time.time()
        self.stop_reason = reason

    # ---------------------------------------------------------------- reading
    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def fps(self) -> float:
        """Frames out per second over the whole run."""
        return self.frames_out / self.elapsed if self.elapsed > 0 else 0.0

    def fps_now(self) -> float:
        """Frames out per second over the last (up to) 64 frames."""
        with self._lock:
            recent = list(self._recent)
        if len(recent) < 2:
            return self.fps()
        span = max(recent[-1] - recent[0], time.perf_counter() - recent[-1])
        return (len(recent) - 1) / span if span > 0 else 0.0

    def dropped(self) -> int:
        """Frames dropped by the runtime's queues plus frames the source lost."""
        return (sum(s.dropped for s in self.stages.values())
                + int(self.source.get("counters", {}).get("dropped", 0)))

    def errors(self) -> int:
        return sum(s.errors for s in self.stages.values())

    def snapshot(self) -> dict:
        """Everything, JSON-able (what ``stats.json`` holds)."""
        rss = self.sample_memory()
        with self._lock:
            stages = {name: s.as_dict() for name, s in self.stages.items()}
            service_ms = sum(s["latency"]["median_ms"] for s in stages.values())
            overhead = self.overhead.summary()
            e2e = self.end_to_end.summary()
            snapshot = dict(
                started=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.start_time)),
                elapsed_s=round(self.elapsed, 3), finished=self.end_time is not None,
                stop_reason=self.stop_reason,
                frames_in=self.frames_in, frames_out=self.frames_out,
                fps=self.frames_out / self.elapsed if self.elapsed > 0 else 0.0,
                dropped=sum(s["dropped"] for s in stages.values()),
                source_dropped=int(self.source.get("counters", {}).get("dropped", 0)),
                errors=sum(s["errors"] for s in stages.values()),
                end_to_end=e2e, stages=stages,
                runtime_overhead=dict(
                    **overhead,
                    # Time a frame spends in the runtime itself (hand-offs between threads,
                    # bookkeeping), excluding stage work and queue waits, relative to the
                    # stage work it carries.
                    ratio_of_stage_time=(overhead["total_s"] / self.service_total
                                         if self.service_total > 0 else 0.0),
                    sum_of_stage_medians_ms=service_ms),
                memory=dict(rss_mib=round(rss, 1), peak_rss_mib=round(self.peak_rss_mib, 1),
                            budget_mib=self.memory_budget_mib, over_budget=self.over_budget),
                events=dict(counts=dict(self.event_counts), recent=list(self.events)),
                source=self.source, info=self.info)
        snapshot["fps_now"] = self.fps_now()
        return snapshot

    def progress_line(self) -> str:
        """A compact one-line summary, e.g.
        ``frames 120 | 9.8 fps | e2e 120/180 ms | check 0.1 | fuse 20/25 | drop 3 err 1 |
        rss 512 MiB``."""
        with self._lock:
            parts = [f"frames {self.frames_out}"]
            e2e = self.end_to_end.summary()
            stage_parts = []
            for name, stage in self.stages.items():
                summary = stage.latency.summary()
                stage_parts.append(f"{name} {summary['median_ms']:.0f}/{summary['p95_ms']:.0f}")
            states = [stage.state["line"] for stage in self.stages.values()
                      if stage.state and "line" in stage.state]
            dropped = sum(s.dropped for s in self.stages.values())
            dropped += int(self.source.get("counters", {}).get("dropped", 0))
            errors = sum(s.errors for s in self.stages.values())
        rss, _ = memory_mib()
        parts.append(f"{self.fps_now():.1f} fps")
        parts.append(f"e2e {e2e['median_ms']:.0f}/{e2e['p95_ms']:.0f} ms")
        parts.append(" ".join(stage_parts) + " ms")
        parts.extend(states)
        parts.append(f"drop {dropped} err {errors}")
        budget = f"/{self.memory_budget_mib:.0f}" if self.memory_budget_mib else ""
        parts.append(f"rss {rss:.0f}{budget} MiB")
        return " | ".join(parts)

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`snapshot` to ``path`` atomically (never a half-written file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.snapshot(), indent=2, default=_json_default))
        tmp.replace(path)
        return path


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return repr(value)
