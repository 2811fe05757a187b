"""``edgegeo export NAME --benchmark``: the measurements of issue 7, saved as JSON beside the
artefacts and printed; with ``--record`` (``record=True``) also written to the ``export``
section of ``docs/benchmarks.md``.

Per model, at its deployment size: fp32 / fp16 / int8 exports with parity against torch on
real (Middlebury Motorcycle) and held-out synthetic frames (relative error = max|onnx −
torch| / max|torch|); the int8 task metric (torch vs int8, over the pixels both keep where 0
means "no value") on held-out synthetic frames and Motorcycle; ONNX Runtime CPU latency with 2
threads for fp32 / fp16 / int8 against torch eager with 2 threads (blocks of calls per
runtime, 2 passes; median and best); file sizes; for models with the bilateral-upsample op,
custom node vs decomposed graph (equal outputs and latency); and the fp16 block list against
an all-fp16 graph.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

LATENCY_THREADS = 2
LATENCY_ROUNDS = 12
CALIB = {"mono-depth": "synthetic:32", "jbu": "synthetic:16", "stereo": "synthetic:16",
         "mvs": "synthetic:16"}
HELDOUT_FRAMES = 8
CALIB_TEXT = {"minmax": "min-max", "entropy": "entropy", "percentile": "99.99th percentile"}
SECTION = "export"


def _time_blocks(factories: dict[str, Any], rounds: int, passes: int = 2
                 ) -> dict[str, dict[str, float]]:
    """Median and best milliseconds per runtime.

    ``factories``: name → a function returning the call to time (for ORT: building a fresh
    session). Each runtime runs in a block of consecutive calls, built just before and freed
    just after (a deployed process holds one session), and the blocks are repeated
    ``passes`` times in turn (A…A B…B C…C A…A …), so a change in machine load hits each
    alike. Runtimes are not interleaved call by call and idle sessions are not kept: torch's
    OpenMP threads and every live ORT session's thread pool spin after a call and steal the
    two cores from the next call (measured: ORT int8 31 ms alone, 57 ms next to idle fp32 and
    fp16 sessions)."""
    import gc

    samples: dict[str, list[float]] = {name: [] for name in factories}
    per_pass = max(1, rounds // passes)
    for _ in range(passes):
        for name, factory in factories.items():
            function = factory()
            time.sleep(0.3)                           # let other threads go idle
            function()                                # warm-up
            for _ in range(per_pass):
                start = time.perf_counter()
                function()
                samples[name].append(1000 * (time.perf_counter() - start))
            del function
            gc.collect()
    return {name: {"median_ms": float(np.median(v)), "best_ms": float(np.min(v))}
            for name, v in samples.items()}


def benchmark_model(name: str, out_dir: Path, weights=None, config=None, random_init=False,
                    calib: str | None = None, calib_method: str | None = None
                    ) -> dict[str, Any]:
    """Run every measurement for one model; returns a JSON-ready dict."""
    from . import runtime as _runtime
    from .fp16 import convert_fp16
    from .onnx_export import export_attributes, export_onnx
    from .ort_runner import OrtRunner
    from .parity import graph_output, paired_metrics, parity_error, torch_output
    from .pipeline import export_model, load_network
    from .specs import get_spec

    network, weights_info = load_network(name, weights, config, random_init)
    spec = get_spec(name).for_network(network)
    size = spec.default_size(network)
    attrs = export_attributes(spec, network, size)
    torch.set_num_threads(LATENCY_THREADS)
    calib_method = calib_method or spec.int8_calib_method
    results: dict[str, Any] = {"model": name, "size": list(size), "weights": weights_info,
                               "calib_method": calib_method, "exports": {}}
    frames = benchmark_frames(spec, size)
    has_real = frames[0][0].startswith("real")
    cases = [(label, *spec.frame_inputs(frame, size, attrs)) for label, frame in frames]
    plugin_variants = (True, False) if spec.uses_adaptive_conv else (True,)
    for plugins in plugin_variants:
        folder = out_dir / name / ("plugin" if plugins else "decomposed")
        for precision in spec.precisions:
            started = time.perf_counter()
            result = export_model(name, precision, folder, network=network, plugins=plugins,
                                  calib=calib or CALIB.get(name, "synthetic:16"),
                                  calib_method=calib_method, size=size,
                                  parity_sources=("motorcycle", "random:1") if has_real
                                  else ("random:1",), strict=False,
                                  weights_info=weights_info)
            report = result.report
            runner = OrtRunner(result.onnx_path, threads=LATENCY_THREADS, providers="cpu")
            net = _runtime.wrap(runner, spec.runtime_class, name)
            parity_rows, metric_rows = [], []
            for label, feeds, gt in cases:
                expected = torch_output(network, feeds, spec)
                got = runner.run(feeds)[0]
                rel, disagreement = parity_error(got, expected, spec.zero_is_no_value)
                parity_rows.append({"input": label, "rel_error": rel,
                                    "mask_disagreement": disagreement})
                if gt is not None:
                    reference, measured = paired_metrics(spec, expected[0, 0], got[0, 0], gt)
                    metric_rows.append({"input": label, "torch": reference, "onnx": measured})
            key = next(iter(metric_rows[0]["torch"]))
            torch_metric = float(np.mean([r["torch"][key] for r in metric_rows]))
            onnx_metric = float(np.mean([r["onnx"][key] for r in metric_rows]))
            synthetic = [r for r in metric_rows if r["input"].startswith("synthetic")]
            real = [r for r in metric_rows if r["input"].startswith("real")]
            results["exports"][f"{precision}{'' if plugins else '-decomposed'}"] = {
                "file": str(result.onnx_path), "bytes": report["onnx"]["bytes"],
                "export_seconds": round(time.perf_counter() - started, 1),
                "plugins": report["plugins"]["mode"], "parity": parity_rows,
                "max_rel_error": max(r["rel_error"] for r in parity_rows),
                "metric": key, "torch_metric": torch_metric, "onnx_metric": onnx_metric,
                "metric_synthetic": [float(np.mean([r["torch"][key] for r in synthetic])),
                                     float(np.mean([r["onnx"][key] for r in synthetic]))],
                "metric_real": [real[0]["torch"][key], real[0]["onnx"][key]] if real else None,
                "relative_loss": (onnx_metric - torch_metric) / max(torch_metric, 1e-12)}
            del runner, net                           # no idle sessions during the timing
    # latency at the deployment size: one session at a time (see _time_blocks)
    feeds = cases[0][1]                               # the real image where there is one
    results["latency"] = _latency(name, network, feeds,
                                  {k: e["file"] for k, e in results["exports"].items()},
                                  LATENCY_ROUNDS)
    results["latency_input"] = frames[0][0]
    # fp16 block list against an all-fp16 graph (ORT CPU)
    with tempfile.TemporaryDirectory() as work:
        fp32_path = Path(work) / "fp32.onnx"
        export_onnx(network, spec, fp32_path, size=size, plugins=False)
        import onnx

        fp32 = onnx.load(str(fp32_path))
        rows = {}
        for label, keep, nodes in (("all fp16 (ORT default block list only)", (), ()),
                                   ("edgegeo block list", spec.fp16_keep_fp32,
                                    tuple(spec.fp16_keep_fp32_nodes(fp32)))):
            try:
                runner = OrtRunner(convert_fp16(fp32, keep, nodes), threads=LATENCY_THREADS,
                                   providers="cpu")
                rows[label] = max(parity_error(runner.run(f)[0], torch_output(network, f, spec),
                                               spec.zero_is_no_value)[0] for _, f, _ in cases)
            except Exception as exc:             # an all-fp16 graph may not even load
                rows[label] = f"fails: {str(exc).splitlines()[0][:80]}"
        results["fp16_block_list"] = rows
    half = (max(spec.size_multiple, size[0] // 2 // spec.size_multiple * spec.size_multiple),
            max(spec.size_multiple, size[1] // 2 // spec.size_multiple * spec.size_multiple))
    label, frame = frames[0]
    results["fp16_torch_emulation"] = torch_fp16_emulation(
        network, spec, [(label, *spec.frame_inputs(frame, half, attrs))])
    if spec.uses_adaptive_conv:
        plugin_net, plain_net = (
            _runtime.wrap(OrtRunner(results["exports"][key]["file"], providers="cpu"),
                          spec.runtime_class, name) for key in ("fp32", "fp32-decomposed"))
        with torch.inference_mode():
            diffs = [float(np.abs(graph_output(plugin_net, f, spec)
                                  - graph_output(plain_net, f, spec)).max())
                     for _, f, _ in cases]
        results["custom_vs_decomposed_max_abs_diff"] = max(diffs)
    return results


def benchmark_frames(spec, size: tuple[int, int]) -> list[tuple[str, Any]]:
    """``(label, frame)`` of the benchmark: the real frame of the spec's kind where there is
    one (Middlebury Motorcycle), then ``HELDOUT_FRAMES`` held-out synthetic frames."""
    from .calibration import heldout_frames
    from .frames import real_frames

    frames = real_frames(spec.frame_kind) if spec.frame_kind != "posed" else []
    return frames + [(f"synthetic: held-out {i}", frame)
                     for i, frame in enumerate(heldout_frames(spec.frame_kind, HELDOUT_FRAMES,
                                                              size))]


# Modules that run in half precision in the "layers in fp16" emulation: the network layers an
# fp16 graph computes in fp16 when it keeps its geometry (projections, grids, pose terms) in fp32.
FP16_LAYERS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)


def torch_fp16_emulation(network, spec, cases) -> dict[str, Any]:
    """fp16 *arithmetic* on the CPU, max relative error against fp32 torch over ``cases``, for
    three splits: the whole network in half precision; the same with LayerNorm in float32; and
    only the convolution and linear layers in half precision, everything else (geometry,
    normalisation, soft-argmin) in float32 with float32 inputs — the split of the stereo and
    mvs fp16 graphs, whose poses cannot be rounded to fp16 (their rotations stop being
    orthonormal). A split that fails is reported with its error. (ORT's CPU provider runs most
    fp16 graph ops in fp32, so it cannot show this.)"""
    import copy

    from .parity import first_output, parity_error

    graph = spec.torch_graph(network)

    def wrap(module, inner, outer):
        """``module`` computes in dtype ``inner`` between tensors of dtype ``outer``."""
        module.to(inner)
        module.forward = lambda x, f=module.forward: f(x.to(inner)).to(outer)

    def half_network(model, fp32_types):
        """The whole network in half precision (half inputs), ``fp32_types`` kept float32."""
        model.half()
        for module in model.modules():
            if isinstance(module, fp32_types):
                wrap(module, torch.float32, torch.float16)
        return lambda *tensors: model(*[t.half() for t in tensors])

    def half_layers(model):
        """Only the :data:`FP16_LAYERS` in half precision; float32 inputs and the rest."""
        for module in model.modules():
            if isinstance(module, FP16_LAYERS):
                wrap(module, torch.float16, torch.float32)
        return model

    variants = {"all ops fp16": lambda m: half_network(m, ()),
                "LayerNorm in fp32": lambda m: half_network(m, (torch.nn.LayerNorm,)),
                "conv/linear layers in fp16, the rest fp32": half_layers}
    rows: dict[str, Any] = {}
    for label, make in variants.items():
        try:
            model = make(copy.deepcopy(graph))
            errors = []
            for _, feeds, _ in cases:
                tensors = [torch.from_numpy(feeds[n]) for n in spec.input_names]
                with torch.no_grad():
                    expected = first_output(graph(*tensors)).numpy()
                    got = first_output(model(*tensors)).float().numpy()
                errors.append(parity_error(got, expected, spec.zero_is_no_value)[0])
            rows[label] = max(errors)
        except Exception as exc:        # e.g. ops without fp16 CPU kernels (adaptive_conv)
            reason = "the adaptive-conv kernels are float32/float64 only: " \
                if spec.uses_adaptive_conv else ""
            rows[label] = (f"not measured ({reason}{type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:80]})")
    rows["inputs"] = ", ".join(label for label, _, _ in cases)
    return rows


INTRO = """`edgegeo export NAME --precision fp32|fp16|int8` writes `<name>.<precision>.onnx` (opset 17,
batch 1, dynamic H/W — mvs: fixed at its working size —, normalisation inside) and its JSON
report. fp16 = strongly typed fp16
graph (float32 I/O; LayerNorm/Softmax/reductions kept fp32, see `export/fp16.py`); int8 =
explicit Q/DQ from onnxruntime's static quantizer (symmetric int8, per-channel weights, convs
and weight MatMuls; attention's activation MatMuls, jbu's depth path and mvs's geometry and
first metadata-MLP layer stay float). The task metrics of torch and of a graph whose 0 means
"no value" (mvs depth below its confidence threshold) are over the pixels both keep. The
bilateral-upsample op is the custom node `edgegeo::AdaptiveConv` (ORT custom op on the Cython
kernel; TensorRT plugin) or, with `--no-plugins`, standard ops.

TensorRT engines and the TensorRT plugin were **not measured**: this machine has no GPU and no
TensorRT (the builder, engine cache and plugin are tested under `-m tensorrt` on a device).
"""


def render_markdown(all_results: list[dict[str, Any]]) -> str:
    from edgegeo.bench_report import markdown_table

    parts = [INTRO]
    all_results = sorted(all_results, key=lambda r: r["model"] != "mono-depth")
    for res in all_results:
        name, (height, width) = res["model"], res["size"]
        weights = res["weights"]
        origin = ("**random initialisation** (no trained weights existed when this ran: "
                  "parity and latency are meaningful, the int8 task-metric drop is not)"
                  if weights.get("source") == "random-init" else
                  f"trained weights `{Path(weights['source']).name}` (sha256 "
                  f"{weights['sha256'][:12]}…)")
        parts.append(f"### {name} at {height}×{width}\n\nWeights: {origin}.\n")
        rows = []
        for label, e in res["exports"].items():
            precision = label.split("-")[0]
            tolerance = {"fp32": "≤ 1e-4", "fp16": "≤ 1e-2"}.get(precision, "task metric")
            rows.append({
                "graph": label, "op form": "—" if e["plugins"] == "none" else e["plugins"],
                "MB": e["bytes"] / 1e6,
                "max rel. error (real + synthetic)": f"{e['max_rel_error']:.2e}",
                "contract": tolerance,
                f"{e['metric']} torch → onnx (synthetic)":
                    f"{e['metric_synthetic'][0]:.4f} → {e['metric_synthetic'][1]:.4f}",
                f"{e['metric']} torch → onnx (Motorcycle)":
                    (f"{e['metric_real'][0]:.4f} → {e['metric_real'][1]:.4f}"
                     if e.get("metric_real") else "—"),
                "relative loss": f"{100 * e['relative_loss']:+.2f} %"})
        parts.append(markdown_table(rows, fmt="{:.2f}"))
        lat = res["latency"]
        timed_on = res.get("latency_input", "a held-out synthetic frame")
        base = lat.get("ORT fp32", {}).get("median_ms")
        lat_rows = [{"runtime": k, "median ms": v["median_ms"], "best ms": v["best_ms"],
                     "speed-up vs ORT fp32 (median)": (f"{base / v['median_ms']:.2f}×"
                                                      if base else "")}
                    for k, v in lat.items()]
        parts.append(f"\nLatency, CPU, {LATENCY_THREADS} threads, "
                     f"{res.get('latency_rounds', LATENCY_ROUNDS)} calls in "
                     f"blocks per runtime (2 passes), batch 1, input {timed_on}:\n\n" + markdown_table(lat_rows, fmt="{:.1f}"))
        block = res["fp16_block_list"]
        parts.append("\nfp16 block list (max relative error over the same inputs, ORT CPU — "
                     "which computes ops without fp16 CPU kernels in fp32 between fp16 "
                     "tensors, so this bounds storage rounding, not fp16 arithmetic):\n\n"
                     + markdown_table([{"fp16 graph": k,
                                        "max rel. error": v if isinstance(v, str)
                                        else f"{v:.2e}"} for k, v in block.items()]))
        emulation = dict(res.get("fp16_torch_emulation", {}))
        if emulation:
            inputs = emulation.pop("inputs", "")
            parts.append(f"\nfp16 arithmetic (torch in half precision on the CPU, max relative "
                         f"error vs fp32 torch; inputs: {inputs}):\n\n" + markdown_table(
                             [{"torch fp16": k, "max rel. error": v if isinstance(v, str)
                               else f"{v:.2e}"} for k, v in emulation.items()]))
        if "custom_vs_decomposed_max_abs_diff" in res:
            parts.append(f"\nCustom node `edgegeo::AdaptiveConv` (ORT custom op on the Cython "
                         f"kernel) vs decomposed standard ops, fp32: max |difference| "
                         f"{res['custom_vs_decomposed_max_abs_diff']:.2e} m.")
        parts.append("")
    parts.append("Relative error = max|onnx − torch| / max|torch| over the whole output. "
                 "Task metric: mono-depth AbsRel after per-image scale-and-shift alignment in "
                 "disparity (`relative_depth_metrics`), jbu AbsRel of the ×4 upsampled depth, "
                 "stereo end-point error (px) against GT disparity, mvs AbsRel of metric "
                 "depth; "
                 f"synthetic = {HELDOUT_FRAMES} frames of held-out scenes (TEST_SEEDS), int8 "
                 "calibrated on training-scene frames (symmetric int8, per-channel weights; "
                 + ", ".join(f"{res['model']} {CALIB_TEXT[res.get('calib_method', 'minmax')]}"
                             for res in all_results)
                 + "). The machine is shared with training jobs: latencies are noisy, "
                 "each runtime is timed in its own blocks, two passes.")
    return "\n".join(parts)


def _latency(name: str, network, feeds, files: dict[str, str], rounds: int):
    """torch eager and ORT (2 threads) per ONNX file on ``feeds``, via :func:`_time_blocks`."""
    from . import runtime as _runtime
    from .ort_runner import OrtRunner
    from .specs import get_spec

    spec = get_spec(name).for_network(network)
    tensors = [torch.from_numpy(feeds[n]) for n in spec.input_names]
    graph = spec.torch_graph(network)
    torch.set_num_threads(LATENCY_THREADS)

    def torch_call():
        def call():
            with torch.inference_mode():
                graph(*tensors)
        return call

    def ort_call(path):
        def make():
            net = _runtime.wrap(OrtRunner(path, threads=LATENCY_THREADS, providers="cpu"),
                                spec.runtime_class, name)
            return lambda: net.run_all(*tensors)
        return make

    factories = {"torch eager": torch_call}
    factories.update({f"ORT {label}": ort_call(path) for label, path in files.items()})
    return _time_blocks(factories, rounds)


def remeasure_latency(name: str, out_dir: str | os.PathLike, rounds: int = 20,
                      command: str | None = None, record: bool = False) -> dict[str, Any]:
    """Time the artefacts of an earlier :func:`run_benchmark` again (e.g. when the machine is
    quieter), update its JSON, print the table and, with ``record``, the docs section."""

    from .pipeline import load_network
    from .specs import get_spec

    out_dir = Path(out_dir)
    path = out_dir / name / "benchmark.json"
    result = json.loads(path.read_text())
    spec = get_spec(name)
    source = result["weights"].get("source")
    network, _ = load_network(name, random_init=source == "random-init",
                              weights=None if source == "random-init" else source)
    torch.set_num_threads(LATENCY_THREADS)
    from .onnx_export import export_attributes

    size = tuple(result["size"])
    label, frame = benchmark_frames(spec, size)[0]
    feeds = spec.frame_inputs(frame, size, export_attributes(spec, network, size))[0]
    result["latency"] = _latency(name, network, feeds,
                                 {k: e["file"] for k, e in result["exports"].items()}, rounds)
    result["latency_rounds"] = rounds
    result["latency_input"] = label
    path.write_text(json.dumps(result, indent=2))
    _report(out_dir, record, command)
    return result


def _report(out_dir: Path, record: bool, command: str | None) -> None:
    """Print the table of every model benchmarked into ``out_dir`` so far (runs per model
    accumulate there) and, with ``record``, write it as the ``export`` section."""
    from edgegeo.bench_report import write_section

    everything = [json.loads(p.read_text()) for p in sorted(out_dir.glob("*/benchmark.json"))]
    body = render_markdown(everything)
    print(body)
    print(f"saved: {', '.join(str(out_dir / r['model'] / 'benchmark.json') for r in everything)}")
    if record:
        path = write_section(SECTION, "Export: ONNX fp32 / fp16 / int8 parity, int8 task "
                             "metric, ONNX Runtime latency, sizes", body, command=command)
        print(f"wrote {path}")


def run_benchmark(names: list[str], out_dir: str | os.PathLike | None = None, weights=None,
                  config=None, random_init: bool = False, calib: str | None = None,
                  calib_method: str | None = None, record: bool = False,
                  command: str | None = None) -> list[dict]:
    """Benchmark ``names``; write JSON beside the artefacts, print the table and, with
    ``record``, write the docs section."""
    from .cache import cache_dir

    out_dir = Path(out_dir) if out_dir is not None else cache_dir() / "bench"
    results = []
    for name in names:
        try:
            result = benchmark_model(name, out_dir, weights, config, random_init, calib,
                                     calib_method)
        except FileNotFoundError:
            if random_init:
                raise
            print(f"{name}: no trained weights; benchmarking a randomly initialised network")
            result = benchmark_model(name, out_dir, None, config, True, calib, calib_method)
        results.append(result)
        (out_dir / name).mkdir(parents=True, exist_ok=True)
        (out_dir / name / "benchmark.json").write_text(json.dumps(result, indent=2))
    _report(out_dir, record, command)
    return results


def main(argv: list[str] | None = None) -> None:
    """``python -m edgegeo.export.benchmark [NAME ...] [--record]``."""
    import argparse

    from edgegeo.bench_report import add_record_argument

    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m edgegeo.export.benchmark")
    parser.add_argument("names", nargs="*", default=["mono-depth", "jbu"], metavar="NAME",
                        help="models to benchmark (default: mono-depth jbu)")
    add_record_argument(parser, SECTION)
    args = parser.parse_args(argv)
    run_benchmark(args.names, record=args.record,
                  command="python -m edgegeo.export.benchmark " + " ".join(
                      shlex.quote(a) for a in argv))


if __name__ == "__main__":
    main()
