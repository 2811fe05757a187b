"""ONNX Runtime CPU latency of exported mono-depth graphs next to the Depth-Anything-V2-Small
*architecture* (Yang et al., "Depth Anything V2", NeurIPS 2024: ViT-S/14 — dim 384, 12 blocks,
6 heads — with a DPT head of 64 features and 48/96/192/384 reassembled channels, 24.8 M
parameters), in one process, sessions timed in interleaved blocks so that load from other jobs
hits all of them alike.

    python -m edgegeo.training.mono.latency --onnx "new fp32=out/bench/mono-depth.fp32.onnx" \\
        --onnx "new int8=out/bench/mono-depth.int8.onnx" --size 256 320

DA-V2-S is exported here with random weights (latency only) at the multiple of its 14-px
patch nearest to ``--size`` (252×322 for 256×320). Prints median milliseconds per call.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def da_v2_small_architecture():
    """A :class:`MonoDepthNet` with DA-V2-S's encoder and DPT head sizes (random init)."""
    from edgegeo.models.layers.vit import ViTConfig
    from edgegeo.models.mono_depth import MonoDepthNet, MonoDepthNetConfig

    return MonoDepthNet(MonoDepthNetConfig(
        ViTConfig(patch_size=14, embed_dim=384, depth=12, num_heads=6, pos_grid=(37, 37)),
        tap_blocks=(2, 5, 8, 11), reassemble_channels=(48, 96, 192, 384), features=64,
        head_features=32)).eval()


def main(argv=None) -> int:
    import onnxruntime as ort
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--onnx", action="append", default=[], metavar="LABEL=PATH")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 320), metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved blocks")
    parser.add_argument("--calls", type=int, default=5, help="timed calls per block")
    args = parser.parse_args(argv)
    height, width = args.size
    graphs = [(label, Path(path), (height, width)) for label, path in
              (item.split("=", 1) for item in args.onnx)]
    workdir = Path(tempfile.mkdtemp(prefix="mono-latency-"))
    da_size = (round(height / 14) * 14, round(width / 14) * 14)
    network = da_v2_small_architecture()
    params = sum(p.numel() for p in network.parameters()) / 1e6
    da_path = workdir / "da-v2-s.fp32.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(network, (torch.rand(1, 3, *da_size),), str(da_path), dynamo=False,
                          opset_version=17, input_names=["image"], output_names=["disparity"])
    graphs.append((f"DA-V2-S architecture fp32 ({params:.1f} M params)", da_path, da_size))
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    sessions = []
    for label, path, size in graphs:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: np.random.default_rng(0).random(
            (1, 3, *size), dtype=np.float32)}
        session.run(None, feed)                                      # warm-up
        sessions.append((label, session, feed, size, []))
    for _ in range(args.rounds):
        for _, session, feed, _, times in sessions:
            for _ in range(args.calls):
                start = time.perf_counter()
                session.run(None, feed)
                times.append(time.perf_counter() - start)
    print(f"ONNX Runtime CPU, {args.threads} threads, median of {args.rounds}×{args.calls} calls")
    for label, _, _, size, times in sessions:
        print(f"| {label} | {size[0]}×{size[1]} | {1000 * np.median(times):.1f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
