"""The streaming runtime's engine: a source, a chain of stages, and sinks, each in its own
thread, joined by bounded queues. The stages themselves live in :mod:`edgegeo.runtime.stages`,
the sinks in :mod:`edgegeo.runtime.sinks`; :mod:`edgegeo.runtime.assembly` puts a run together.

::

    source ─▶ [q] check ─▶ [q] depth ─▶ [q] upsample ─▶ [q] fuse ─▶ [q] sinks
                (validate)   (mono | stereo | mvs)        (TSDF)      (PLY, PNG, mp4, bag)

* **Stages are callables** ``packet → packet | None`` (None: the stage filtered the frame out
  of the stream). A stage may also pass a packet on without doing its work
  (:meth:`Packet.skip`, e.g. mvs: not a keyframe, so no depth): counted per reason, not an
  error; later stages that need depth pass such packets on too. Inference is pluggable:
  anything mapping images to depth/disparity fits (a predictor from ``edgegeo.load``, an
  ONNX/TensorRT engine wrapper, a test double).
* **Bounded queues, drop-oldest.** With a live source (camera) each queue holds at most
  ``max_queue`` packets; when a stage is slower than its input, the *oldest* waiting packet is
  dropped (and counted), so latency stays bounded and the output follows the camera. With a
  file or synthetic source the default is ``block`` (backpressure: nothing is dropped, the
  source is read as fast as the slowest stage goes).
* **Faults are survived.** A packet a stage rejects (:class:`BadFrame`: wrong size, NaN depth,
  no pose, ...) or a stage that raises is reported (``stats.json`` events), counted, and skipped;
  the stream goes on. The TSDF only changes after a frame passed every check, so nothing
  already fused is lost. A sink that fails is reported; after ``sink_error_limit`` failures in
  a row it is switched off.
* **Shutdown flushes.** SIGINT / SIGTERM (or :meth:`Pipeline.stop`) stop the source; queued
  packets drain through the stages; sinks close (the map is saved); ``stats.json`` is written.
  A second signal abandons what is still queued but still saves.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .packet import BadFrame, Packet
from .sources.base import Source, SourceError
from .stats import RuntimeStats

log = logging.getLogger("edgegeo.runtime")

POLICIES = ("oldest", "block")


# --------------------------------------------------------------------------------- stages
@dataclass
class Stage:
    """A named step of the pipeline.

    Attributes:
        name: shown in stats (``check``, ``mono``, ``fuse``, ...); unique in a pipeline.
        fn: ``packet → packet | None``; raise :class:`BadFrame` (or anything) to reject it.
            If ``fn`` has ``close()``, it is called once the stream has ended.
        queue_size: its input queue's capacity (default: the pipeline's ``max_queue``).
    """

    name: str
    fn: Callable[[Packet], Packet | None]
    queue_size: int | None = None


def as_stage(item) -> Stage:
    """A :class:`Stage` from a Stage, or from a callable (named by its ``name`` attribute or
    its function / class name)."""
    if isinstance(item, Stage):
        return item
    if not callable(item):
        raise TypeError(f"a pipeline stage must be callable, got {type(item).__name__}")
    name = getattr(item, "name", None) or getattr(item, "__name__", None) or type(item).__name__
    return Stage(str(name), item)


# --------------------------------------------------------------------------------- queue
_END = object()


class BoundedQueue:
    """A FIFO of at most ``maxsize`` packets with a full-queue policy.

    ``oldest``: ``put`` never blocks; when full, the oldest packet is evicted and returned.
    ``block``: ``put`` waits for room (or until ``cancel`` is set).
    The end-of-stream marker is never dropped and does not count against the size.
    """

    def __init__(self, maxsize: int, policy: str):
        if maxsize < 1:
            raise ValueError(f"queue size must be >= 1, got {maxsize}")
        if policy not in POLICIES:
            raise ValueError(f"unknown queue policy {policy!r}; use one of {POLICIES}")
        self.maxsize, self.policy = maxsize, policy
        self._items: deque = deque()
        self._cond = threading.Condition()

    def __len__(self) -> int:
        with self._cond:
            return self._packets()

    def _packets(self) -> int:
        return len(self._items) - sum(item is _END for item in self._items)

    def put(self, item, cancel: threading.Event | None = None):
        """Add ``item``; returns the packet evicted to make room (``oldest``), else None.
        With ``block``, returns ``item`` itself if ``cancel`` was set while waiting."""
        with self._cond:
            if self.policy == "block":
                while self._packets() >= self.maxsize:
                    if cancel is not None and cancel.is_set():
                        return item
                    self._cond.wait(0.05)
                evicted = None
            else:
                evicted = None
                if self._packets() >= self.maxsize:
                    for position, queued in enumerate(self._items):
                        if queued is not _END:
                            evicted = queued
                            del self._items[position]
                            break
            self._items.append(item)
            self._cond.notify_all()
            return evicted

    def put_end(self) -> None:
        with self._cond:
            self._items.append(_END)
            self._cond.notify_all()

    def get(self, timeout: float | None = None):
        """The next item (``_END`` at the end of the stream); raises TimeoutError."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items, timeout):
                raise TimeoutError
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def drain(self) -> list:
        """Remove and return every packet (keeping the end marker, if any)."""
        with self._cond:
            packets = [item for item in self._items if item is not _END]
            ended = any(item is _END for item in self._items)
            self._items.clear()
            if ended:
                self._items.append(_END)
            self._cond.notify_all()
            return packets


# ------------------------------------------------------------------------------ pipeline
class Pipeline:
    """Run ``source`` through ``stages`` into ``sinks``, each in its own thread.

    Args:
        source: a :class:`~edgegeo.runtime.sources.Source`.
        stages: :class:`Stage` objects or callables, in order.
        sinks: objects with ``write(packet)`` and optionally ``open(info)``, ``tick()``,
            ``close()`` (see :mod:`edgegeo.runtime.sinks`); they run together in the last
            thread.
        max_queue: capacity of each stage's input queue (unless the stage sets its own).
        policy: ``oldest`` (drop the oldest packet when a queue is full), ``block``
            (backpressure), or ``auto``: ``oldest`` for live sources, ``block`` otherwise.
        max_frames: stop after the source delivered this many frames.
        stats_path: write ``stats.json`` here every ``stats_every_s`` seconds and at the end.
        progress: called with a one-line summary every ``progress_every_s`` seconds (e.g.
            ``print``); None = quiet.
        memory_budget_mib: warn (once) and flag in the stats when RSS exceeds it.
        drain_timeout_s: after a stop, abandon packets still queued after this long.
        sink_error_limit: consecutive failures after which a sink is switched off.
        info: extra JSON-able facts for ``stats.json`` (command, profile, ...).
    """

    def __init__(self, source: Source, stages: Sequence, sinks: Sequence = (), *,
                 max_queue: int = 2, policy: str = "auto", max_frames: int | None = None,
                 stats_path: str | Path | None = None, stats_every_s: float = 2.0,
                 progress: Callable[[str], None] | None = None, progress_every_s: float = 1.0,
                 memory_budget_mib: float | None = None, drain_timeout_s: float = 60.0,
                 sink_error_limit: int = 10, info: dict | None = None):
        if policy == "auto":
            policy = "oldest" if source.live else "block"
        if policy not in POLICIES:
            raise ValueError(f"unknown queue policy {policy!r}; use one of auto, "
                             f"{', '.join(POLICIES)}")
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        self.source = source
        self.stages = [as_stage(s) for s in stages]
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names) or {"source", "sinks"} & set(names):
            raise ValueError(f"stage names must be unique and not 'source'/'sinks': {names}")
        self.sinks = list(sinks)
        self.policy, self.max_queue, self.max_frames = policy, max_queue, max_frames
        self.stats_path = Path(stats_path) if stats_path else None
        self.stats_every_s, self.progress, self.progress_every_s = (stats_every_s, progress,
                                                                    progress_every_s)
        self.drain_timeout_s, self.sink_error_limit = drain_timeout_s, sink_error_limit
        sizes = [s.queue_size or max_queue for s in self.stages] + [max_queue]
        self.queues = [BoundedQueue(size, policy) for size in sizes]
        self.stats = RuntimeStats({"source": 0, **{s.name: size for s, size in
                                                   zip(self.stages, sizes)},
                                   "sinks": sizes[-1]})
        self.stats.memory_budget_mib = memory_budget_mib
        self.stats.info = dict(info or {}, policy=policy, max_queue=max_queue,
                               stages=names, sinks=[_sink_name(s) for s in self.sinks])
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._stop_reason: str | None = None
        self._stop_time: float | None = None
        self._threads: list[threading.Thread] = []
        self._warned_budget = False

    # ------------------------------------------------------------------ control
    def stop(self, reason: str = "stop requested") -> None:
        """End the stream: stop the source and let queued packets drain (thread-safe)."""
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop_time = time.perf_counter()
            self._stop.set()
            self.source.stop()
            log.info("stopping (%s): draining queued frames", reason)

    def abort(self, reason: str = "abort requested") -> None:
        """Stop and abandon queued packets (sinks still close and save)."""
        self.stop(reason)
        self._abort.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ---------------------------------------------------------------------- run
    def run(self, handle_signals: bool = True) -> RuntimeStats:
        """Stream until the source ends, ``max_frames`` is reached, or a stop; then flush.

        Args:
            handle_signals: in the main thread, turn SIGINT / SIGTERM into :meth:`stop` (a
                second one into :meth:`abort`) for the duration of the run.
        Returns:
            The run's :class:`~edgegeo.runtime.stats.RuntimeStats`.
        """
        previous = self._install_signals() if handle_signals else {}
        self.source.on_event = self._source_event
        try:
            for sink in self.sinks:
                if hasattr(sink, "open"):
                    sink.open(self._run_info())
            self._threads = [threading.Thread(target=self._source_loop, name="edgegeo-source",
                                              daemon=True)]
            self._threads += [threading.Thread(target=self._stage_loop, args=(i,),
                                               name=f"edgegeo-{stage.name}", daemon=True)
                              for i, stage in enumerate(self.stages)]
            self._threads.append(threading.Thread(target=self._sink_loop, name="edgegeo-sinks",
                                                  daemon=True))
            for thread in self._threads:
                thread.start()
            self._supervise()
        finally:
            self._finish()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return self.stats

    def _install_signals(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum, _frame):
            name = signal.Signals(signum).name
            if self._stop.is_set():
                self.abort(f"second {name}")
            else:
                self.stop(name)

        previous = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, handler)
        return previous

    def _supervise(self) -> None:
        """Main thread: progress, periodic stats, memory, drain watchdog, until all threads
        end. Sleeps in short steps so that signal handlers run promptly."""
        next_progress = next_stats = time.perf_counter()
        while any(t.is_alive() for t in self._threads):
            time.sleep(0.05)
            now = time.perf_counter()
            if self._stop_time is not None and not self._abort.is_set() \
                    and now - self._stop_time > self.drain_timeout_s:
                self.abort(f"{self._stop_reason}; drain took over {self.drain_timeout_s:g} s")
            if self.progress is not None and now >= next_progress:
                next_progress = now + self.progress_every_s
                self._refresh_reports()
                self.progress(self.stats.progress_line())
            if now >= next_stats:
                next_stats = now + self.stats_every_s
                self._check_memory()
                if self.stats_path is not None:
                    self._refresh_reports()
                    self._write_stats()

    def _finish(self) -> None:
        if any(t.is_alive() for t in self._threads):      # KeyboardInterrupt in supervise etc.
            self.abort("interrupted")
            for thread in self._threads:
                thread.join(timeout=10.0)
        for sink in self.sinks:
            if hasattr(sink, "close"):
                try:
                    sink.close()
                except Exception as exc:                  # the other sinks still close
                    self._event("sink-error", f"{_sink_name(sink)}: close failed: {exc}",
                                "sinks")
        for stage in self.stages:
            close = getattr(stage.fn, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:
                    self._event("stage-error", f"close failed: {exc}", stage.name)
        self.source.on_event = None
        try:
            self.source.close()
        except Exception as exc:
            self._event("source-error", f"close failed: {exc}", "source")
        self._refresh_reports()
        self.stats.finish(self._stop_reason or "end of stream")
        self._check_memory()
        if self.stats_path is not None:
            self._write_stats()
        if self.progress is not None:
            self.progress(self.stats.progress_line())

    # ------------------------------------------------------------------ threads
    def _source_loop(self) -> None:
        queue, stats = self.queues[0], self.stats
        seq = 0
        try:
            iterator = iter(self.source)
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    record = next(iterator)
                except StopIteration:
                    break
                now = time.perf_counter()
                stats.record_stage("source", now - start)
                stats.count_in()
                packet = Packet(seq, record, now, _t_put=now)
                seq += 1
                self._put(0, packet)
                if self.max_frames is not None and seq >= self.max_frames:
                    self.stop(f"max_frames={self.max_frames} reached")
        except SourceError as exc:
            self._event("source-failed", str(exc), "source")
            self.stop(f"source failed: {exc}")
        except Exception as exc:                           # a bug in a source: end cleanly
            log.exception("source crashed")
            self._event("source-failed", f"{type(exc).__name__}: {exc}", "source")
            self.stop(f"source crashed: {exc}")
        finally:
            if self._stop_reason is None:
                self._stop_reason = "end of stream"
            queue.put_end()

    def _put(self, position: int, packet: Packet) -> None:
        """Hand ``packet`` to queue ``position`` (a stage's input, or the sinks')."""
        name = self.stages[position].name if position < len(self.stages) else "sinks"
        packet._t_put = time.perf_counter()
        queue = self.queues[position]
        evicted = queue.put(packet, cancel=self._abort)
        if evicted is packet:                              # blocked, then aborted
            self.stats.record_discard(name)
            return
        if evicted is not None:
            self.stats.record_drop(name)
        self.stats.record_queue_depth(name, len(queue))

    def _take(self, position: int):
        """Next packet for queue ``position``, or _END; packets are discarded on abort."""
        name = self.stages[position].name if position < len(self.stages) else "sinks"
        queue = self.queues[position]
        while True:
            try:
                item = queue.get(timeout=0.2)
            except TimeoutError:
                if position == len(self.stages):
                    self._tick_sinks()
                continue
            if item is _END:
                return item
            if self._abort.is_set():
                self.stats.record_discard(name)
                continue
            item.waits[name] = time.perf_counter() - item._t_put
            return item

    def _stage_loop(self, position: int) -> None:
        stage = self.stages[position]
        try:
            while True:
                packet = self._take(position)
                if packet is _END:
                    break
                start = time.perf_counter()
                outcome = "ok"
                try:
                    result = stage.fn(packet)
                except BadFrame as exc:
                    outcome, result = "error", None
                    self._event("bad-frame", str(exc), stage.name, packet.index)
                except Exception as exc:
                    outcome, result = "error", None
                    self._event("stage-error", f"{type(exc).__name__}: {exc}", stage.name,
                                packet.index)
                seconds = time.perf_counter() - start
                reason = None
                if outcome == "ok" and result is None:
                    outcome = "filtered"
                elif outcome == "ok" and stage.name in result.skipped:
                    outcome, reason = "skipped", result.skipped[stage.name]
                packet.timings[stage.name] = seconds
                self.stats.record_stage(stage.name, seconds, packet.waits.get(stage.name),
                                        outcome, reason)
                if result is not None:
                    self._put(position + 1, result)
        finally:
            self.queues[position + 1].put_end()

    def _sink_loop(self) -> None:
        position = len(self.stages)
        failures = {id(sink): 0 for sink in self.sinks}
        disabled: set[int] = set()
        while True:
            packet = self._take(position)
            if packet is _END:
                break
            start = time.perf_counter()
            for sink in self.sinks:
                if id(sink) in disabled:
                    continue
                try:
                    sink.write(packet)
                    failures[id(sink)] = 0
                except Exception as exc:
                    failures[id(sink)] += 1
                    self._event("sink-error", f"{_sink_name(sink)}: {type(exc).__name__}: {exc}",
                                "sinks", packet.index)
                    if failures[id(sink)] >= self.sink_error_limit:
                        disabled.add(id(sink))
                        self._event("sink-disabled", f"{_sink_name(sink)} switched off after "
                                                     f"{self.sink_error_limit} failures in a row",
                                    "sinks")
            self._tick_sinks(disabled)
            done = time.perf_counter()
            seconds = done - start
            packet.timings["sinks"] = seconds
            self.stats.record_stage("sinks", seconds, packet.waits.get("sinks"))
            self.stats.record_done(done - packet.t_source, sum(packet.timings.values()),
                                   sum(packet.waits.values()))

    def _tick_sinks(self, disabled: set[int] = frozenset()) -> None:
        for sink in self.sinks:
            tick = getattr(sink, "tick", None)
            if tick is not None and id(sink) not in disabled:
                try:
                    tick()
                except Exception as exc:
                    self._event("sink-error", f"{_sink_name(sink)}: periodic save failed: "
                                              f"{exc}", "sinks")

    # ------------------------------------------------------------------ helpers
    def _event(self, kind: str, message: str, stage: str | None = None,
               index: int | None = None) -> None:
        self.stats.event(kind, message, stage, index)
        where = f"{stage}" + (f" frame {index}" if index is not None else "")
        short = message if len(message) <= 300 else message[:300] + " ..."
        log.warning("%s: %s: %s", kind, where, short)

    def _source_event(self, kind: str, index: int | None, message: str) -> None:
        self.stats.event(f"source-{kind}", message, "source", index)

    def _refresh_reports(self) -> None:
        """The source's description and each reporting stage's ``status()`` into the stats."""
        try:
            self.stats.source = self.source.describe()
        except Exception:                                  # describe must never kill a run
            pass
        for stage in self.stages:
            status = getattr(stage.fn, "status", None)
            if callable(status):
                try:
                    self.stats.stage(stage.name).state = status()
                except Exception:                          # nor must a stage's report
                    pass

    def _check_memory(self) -> None:
        rss = self.stats.sample_memory()
        budget = self.stats.memory_budget_mib
        if budget and rss > budget and not self._warned_budget:
            self._warned_budget = True
            self._event("memory", f"RSS {rss:.0f} MiB is over the device budget of "
                                  f"{budget:.0f} MiB")

    def _write_stats(self) -> None:
        try:
            self.stats.write_json(self.stats_path)
        except OSError as exc:
            log.warning("could not write %s: %s", self.stats_path, exc)

    def _run_info(self) -> dict:
        return dict(source=self.source.describe(), stages=[s.name for s in self.stages],
                    policy=self.policy)


def _sink_name(sink) -> str:
    return getattr(sink, "name", None) or type(sink).__name__
