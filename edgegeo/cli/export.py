"""``edgegeo export NAME``: ONNX (fp32 / fp16 / int8) + JSON report, optionally a TensorRT
engine; ``--benchmark`` measures parity, int8 task metric, ORT latency and sizes (JSON in the
benchmark folder; with ``--record`` also the ``export`` section of docs/benchmarks.md)."""
from __future__ import annotations

import argparse
from pathlib import Path

PRECISION_CHOICES = ("fp32", "fp16", "int8")
METHOD_CHOICES = ("minmax", "entropy", "percentile")


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 256x320, got {text!r}") \
            from None
    return height, width


def register(subparsers) -> None:
    from edgegeo.bench_report import add_record_argument

    parser = subparsers.add_parser(
        "export", help="export a model to ONNX (fp32/fp16/int8) and TensorRT",
        description="Export a model to <out>/<name>.<precision>.onnx with a JSON report beside "
                    "it (parity vs torch, opset, inputs/outputs). int8 is calibrated explicit "
                    "quantization (Q/DQ); --engine also builds a cached TensorRT engine where "
                    "tensorrt imports.")
    parser.add_argument("name", metavar="NAME",
                        help="model name (mono-depth, jbu, stereo, mvs)")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default="fp32",
                        help="graph precision (default fp32)")
    parser.add_argument("--out", type=Path, default=Path("out/export"), metavar="DIR",
                        help="output folder (default: out/export)")
    parser.add_argument("--engine", action="store_true",
                        help="also build (or reuse from the cache) a TensorRT engine")
    parser.add_argument("--calib", default="synthetic:16", metavar="DIR|synthetic:N",
                        help="int8 calibration data: a folder of images or synthetic shards "
                             "(stereo shards for stereo), or N rendered training-scene frames, "
                             "pairs (stereo) or posed walk-through windows (mvs) (default "
                             "synthetic:16)")
    parser.add_argument("--calib-method", choices=METHOD_CHOICES, default=None,
                        help="int8 calibration method (default: the model's — minmax; mvs: "
                             "percentile)")
    parser.add_argument("--no-plugins", action="store_true",
                        help="write the bilateral-upsample op as standard ONNX ops instead of "
                             "the custom node edgegeo::AdaptiveConv")
    parser.add_argument("--weights", type=Path, metavar="PATH",
                        help="a .safetensors file (default edgegeo/weights/NAME.safetensors)")
    parser.add_argument("--config", metavar="NAME",
                        help="architecture of the weights (default: model card, else default)")
    parser.add_argument("--random-init", action="store_true",
                        help="export a randomly initialised network (no weights; for testing "
                             "the export path only — the report says so)")
    parser.add_argument("--size", type=_size, metavar="HxW",
                        help="trace / calibration / check size (default: the model's "
                             "deployment size, 96x160 tiles for stereo, the working size for "
                             "mvs; the graph stays dynamic in H and W, except mvs: fixed)")
    parser.add_argument("--parity", metavar="SOURCES",
                        help="comma-separated inputs of the torch comparison: motorcycle, "
                             "synthetic:N, random:N (default motorcycle,synthetic:2; mvs, "
                             "which has no real posed frames: synthetic:2)")
    parser.add_argument("--benchmark", action="store_true",
                        help="export all precisions and measure parity, int8 task metric, "
                             "latency and sizes; print the table, JSON in --bench-dir")
    parser.add_argument("--bench-dir", dest="out_bench", type=Path, metavar="DIR",
                        help="--benchmark: artefacts and per-model JSON (default "
                             "<cache>/bench; models benchmarked there accumulate in the table)")
    add_record_argument(parser, "export", condition="with --benchmark")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgegeo.export import ParityError, export_model, get_spec

    get_spec(args.name)                 # unknown names fail before anything else
    if args.record and not args.benchmark:
        raise ValueError("--record records the --benchmark measurements: add --benchmark")
    if args.benchmark:
        from edgegeo.export.benchmark import run_benchmark

        run_benchmark([args.name], out_dir=args.out_bench, weights=args.weights,
                      config=args.config,
                      random_init=args.random_init, calib=args.calib,
                      calib_method=args.calib_method, record=args.record)
        return 0
    try:
        result = export_model(
            args.name, args.precision, args.out, weights=args.weights, config=args.config,
            random_init=args.random_init, plugins=not args.no_plugins, calib=args.calib,
            calib_method=args.calib_method, size=args.size,
            parity_sources=tuple(s for s in args.parity.split(",") if s) if args.parity
            else None, engine=args.engine)
    except ParityError as exc:
        print(f"edgegeo export: parity check failed: {exc}")
        for row in exc.report["parity"]:
            print(f"  {row['input']}: relative error {row['rel_error']:.3g} "
                  f"(tolerance {row['tolerance']:g})")
        return 1
    except RuntimeError as exc:          # TensorRT / plugin / toolchain problems
        print(f"edgegeo export: error: {exc}")
        return 2
    report = result.report
    print(f"{result.onnx_path} ({report['onnx']['bytes'] / 1e6:.2f} MB, opset "
          f"{report['onnx']['opset'].get('ai.onnx')}, {report['plugins']['mode']})")
    for row in report["parity"]:
        verdict = "" if row["passed"] is None else (" ok" if row["passed"] else " FAIL")
        print(f"  parity {row['input']}: relative error {row['rel_error']:.3g}{verdict}")
    if "task_metric" in report:
        metric = report["task_metric"]
        print(f"  int8 {metric['metric']}: torch {metric['torch']:.4f}, int8 "
              f"{metric['runtime']:.4f} ({100 * metric['relative_loss']:+.2f} %)")
    if result.engine_path is not None:
        print(f"  engine {result.engine_path}")
    print(f"  report {result.report_path}")
    return 0
