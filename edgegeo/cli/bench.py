"""``edgegeo bench``: benchmarks that write their section of docs/benchmarks.md.

One sub-subcommand per benchmark. To add one, write ``_add_<name>(benchmarks)`` that adds its
parser and ``set_defaults(func=...)``, and append it to ``BENCHMARKS``.
"""
from __future__ import annotations

import argparse


def _run_op(args: argparse.Namespace) -> int:
    import torch

    from edgegeo.bench_report import write_section
    from edgegeo.ops.benchmark import report_body, run_benchmark

    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    rows = run_benchmark(args.channels, args.size, args.radius, args.repeats,
                         args.max_reference_gib)
    body = report_body(rows, args.size, args.radius, args.repeats, torch.get_num_threads())
    print(body)
    if not args.no_report:
        path = write_section("adaptive-conv-op", "adaptive_conv op: Cython vs unfold", body)
        print(f"wrote {path}")
    return 0


def _add_op(benchmarks) -> None:
    parser = benchmarks.add_parser(
        "op", help="adaptive_conv (Cython) vs unfold+einsum: time and peak memory",
        description="Time and peak memory of the per-pixel adaptive convolution "
                    "(edgegeo.ops.adaptive_conv) against the unfold+einsum reference, forward "
                    "and forward+backward, B=1; writes section 'adaptive-conv-op' of "
                    "docs/benchmarks.md.")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--channels", type=int, nargs="+", default=[1, 3, 64, 384],
                        help="channel counts C (default 1 3 64 384)")
    parser.add_argument("--size", type=int, default=224, help="output height = width (default 224)")
    parser.add_argument("--radius", type=int, default=3, help="window radius r (default 3)")
    parser.add_argument("--max-reference-gib", type=float, default=8.0,
                        help="skip reference runs estimated to need more memory (default 8)")
    parser.add_argument("--no-report", action="store_true",
                        help="print the table only, leave docs/benchmarks.md alone")
    parser.set_defaults(func=_run_op)


BENCHMARKS = [_add_op]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="run a benchmark and record it in docs/benchmarks.md",
        description="Benchmarks; each writes its own section of docs/benchmarks.md, with the "
                    "machine and the command.")
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for add in BENCHMARKS:
        add(benchmarks)
