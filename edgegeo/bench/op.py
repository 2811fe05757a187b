"""Benchmark of ``adaptive_conv`` (Cython kernels) against the unfold + einsum reference
(``edgegeo bench op``): time and peak memory, forward and forward+backward, on the same inputs.

Time: median wall-clock of ``repeats`` runs after one warm-up run, in this process.

Peak memory: each (implementation, mode, C) runs once more in a fresh Python process, which
builds the inputs, notes its resident set size (VmRSS), resets the kernel's high-water mark
(writing ``5`` to ``/proc/self/clear_refs``, Linux), runs the op and reads the high-water mark
(VmHWM): peak = VmHWM - VmRSS before the run, i.e. everything the op allocated at its peak,
outputs and gradients included, whichever allocator (numpy, torch) did it. tracemalloc would
miss torch's allocations. A fresh process keeps one measurement from reusing memory freed by
another; a tiny run first keeps one-time set-up (autograd engine threads, OpenMP pool) out.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edgegeo.timing import median_time

IMPLEMENTATIONS = ("cython", "unfold")
MODES = ("forward", "forward+backward")
# copies of the unfolded input (C*K*K*H*W float32) at the reference's peak, measured at C = 64:
# 613 MiB forward, 1223 MiB forward+backward for a 600 MiB unfolded input
UNFOLD_COPIES = {"forward": 1, "forward+backward": 2}


def make_inputs(channels: int, size: int, radius: int, seed: int = 0):
    """``x (1,C,size+2r,size+2r)``, ``kernels (1,size,size,K,K)``, ``grad_out (1,C,size,size)``,
    float32 tensors (kernels normalised to sum 1, as in a filter)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    width = 2 * radius + 1
    x = torch.randn(1, channels, size + 2 * radius, size + 2 * radius, generator=generator)
    kernels = torch.rand(1, size, size, width, width, generator=generator)
    kernels /= kernels.sum(dim=(3, 4), keepdim=True)
    grad_out = torch.randn(1, channels, size, size, generator=generator)
    return x, kernels, grad_out


def _op(implementation: str):
    if implementation == "cython":
        from edgegeo.ops import adaptive_conv
        return adaptive_conv
    from edgegeo.ops.reference import adaptive_conv_unfold
    return adaptive_conv_unfold


def run_once(implementation: str, mode: str, x, kernels, grad_out) -> None:
    """One forward (no autograd graph) or one forward + backward wrt x and kernels."""
    import torch

    op = _op(implementation)
    if mode == "forward":
        with torch.no_grad():
            op(x, kernels)
        return
    x, kernels = x.detach().requires_grad_(), kernels.detach().requires_grad_()
    op(x, kernels).backward(grad_out)


def time_ms(implementation: str, mode: str, inputs, repeats: int) -> float:
    """Median milliseconds of ``repeats`` runs after a warm-up run."""
    _, seconds = median_time(lambda: run_once(implementation, mode, *inputs), repeats, warmup=1)
    return 1e3 * seconds


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_peak_here(implementation: str, mode: str, channels: int, size: int,
                      radius: int) -> float:
    """Peak MiB allocated by one run in this process (call it in a fresh one: see module doc)."""
    import gc

    # one-time set-up (imports, autograd engine threads, OpenMP pool) happens before the baseline
    run_once(implementation, mode, *make_inputs(1, 8, radius))
    inputs = make_inputs(channels, size, radius)
    gc.collect()
    before = _status_bytes("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    run_once(implementation, mode, *inputs)
    return (_status_bytes("VmHWM") - before) / 2**20


def peak_mib(implementation: str, mode: str, channels: int, size: int, radius: int) -> float:
    """``measure_peak_here`` in a fresh Python process."""
    code = ("import json, sys; from edgegeo.bench.op import measure_peak_here; "
            f"print(json.dumps(measure_peak_here({implementation!r}, {mode!r}, {channels}, "
            f"{size}, {radius})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"memory measurement failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def unfold_estimate_gib(mode: str, channels: int, size: int, radius: int) -> float:
    """Rough peak GiB of the reference: copies of the float32 unfolded input."""
    return UNFOLD_COPIES[mode] * channels * (2 * radius + 1) ** 2 * size * size * 4 / 2**30


def run_benchmark(channels: list[int], size: int, radius: int, repeats: int,
                  max_reference_gib: float, log=print) -> list[dict]:
    """One row per (C, mode): milliseconds, speed-up and peak MiB of both implementations.

    Reference runs whose estimated peak exceeds ``max_reference_gib`` are skipped (``-``).
    """
    rows = []
    for count in channels:
        inputs = make_inputs(count, size, radius)
        for mode in MODES:
            row = {"C": count, "mode": mode}
            for implementation in IMPLEMENTATIONS:
                estimate = unfold_estimate_gib(mode, count, size, radius)
                if implementation == "unfold" and estimate > max_reference_gib:
                    log(f"C={count} {mode} unfold: skipped, needs ~{estimate:.1f} GiB")
                    row[f"{implementation} ms"] = row[f"{implementation} peak MiB"] = "-"
                    continue
                row[f"{implementation} ms"] = time_ms(implementation, mode, inputs, repeats)
                row[f"{implementation} peak MiB"] = peak_mib(implementation, mode, count, size,
                                                              radius)
                log(f"C={count} {mode} {implementation}: {row[f'{implementation} ms']:.1f} ms, "
                    f"{row[f'{implementation} peak MiB']:.1f} MiB")
            if isinstance(row["unfold ms"], float):
                row["speed-up"] = f"{row['unfold ms'] / row['cython ms']:.1f}x"
            else:
                row["speed-up"] = "-"
            rows.append(row)
    return rows


COLUMNS = ["C", "mode", "cython ms", "unfold ms", "speed-up", "cython peak MiB", "unfold peak MiB"]


def report_body(rows: list[dict], size: int, radius: int, repeats: int, threads: int) -> str:
    """Markdown of the section: what was measured, how, and the table."""
    from edgegeo.bench_report import markdown_table

    return (f"`edgegeo.ops.adaptive_conv` (Cython, OpenMP) vs the `unfold` + `einsum` reference "
            f"(`edgegeo/ops/reference.py`) on the same float32 inputs: B = 1, output "
            f"{size}x{size}, r = {radius} ({2 * radius + 1}x{2 * radius + 1} windows), torch "
            f"tensors, {threads} threads for both. Time: median of {repeats} runs after a "
            f"warm-up; forward+backward computes the gradients wrt x and kernels. Peak memory: "
            f"VmHWM - VmRSS around one run in a fresh process (high-water mark reset through "
            f"/proc/self/clear_refs) after a tiny warm-up run, outputs and gradients "
            f"included; the inputs (x "
            f"{4 * (size + 2 * radius) ** 2 / 2**20:.2f} MiB per channel, kernels "
            f"{4 * size * size * (2 * radius + 1) ** 2 / 2**20:.1f} MiB) are not counted.\n\n"
            + markdown_table(rows, COLUMNS, fmt="{:.1f}"))
