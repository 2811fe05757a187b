"""'edgegeo bench runtime' at tiny sizes: the tables of the section it writes, sane numbers,
"not shipped" rows, the streamed gt mesh scoring exactly as offline fusion, mvs skipping
non-keyframes, and clear errors for bad options."""
import json
import math
import shutil

import pytest
import torch

from edgegeo.cli import main
from edgegeo.devices.profiles import load_profile
from edgegeo.models.mono_depth import MonoDepthNet, MonoDepthNetConfig
from edgegeo.runtime.backends import tensorrt_available
from edgegeo.runtime.bench import BenchConfig, load_predictor, run_benchmark, split_backend
from edgegeo.runtime.bench_tables import FUSION_COLUMNS, OVERHEAD_COLUMNS, THROUGHPUT_COLUMNS
from edgegeo.weights_io import save_weights

from _smoke_weights import smoke_weights

FRAMES = 6
TINY = ["--frames", str(FRAMES), "--size", "64x48", "--mesh-points", "5000",
        "--device-profile", "cpu"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """An untrained tiny mono-depth network (with its model card); no stereo, no mvs."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    mono = MonoDepthNet(MonoDepthNetConfig.tiny())
    save_weights(mono, "mono-depth", {
        "recipe": "mono-depth", "command": "pytest", "data": "none", "seed": 0,
        "wall_time_s": 0.0, "metrics": {}, "model_config": mono.config.to_dict()}, folder)
    return folder


def parse_table(section: str, first_columns: str) -> list[dict[str, str]]:
    """The markdown table whose header starts with ``first_columns``, as rows of cells."""
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_columns} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")))))
    return [dict(row, _header=header) for row in rows]


def test_bench_writes_the_runtime_section(tmp_path, monkeypatch, capsys, weights_dir):
    bench_file = tmp_path / "docs" / "benchmarks.md"
    monkeypatch.setenv("EDGEGEO_BENCH_FILE", str(bench_file))
    monkeypatch.setenv("EDGEGEO_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "stats"
    assert main(["bench", "runtime", *TINY, "--backends", "torch,onnxruntime-fp32",
                 "--weights-dir", str(weights_dir), "--out", str(out), "--record"]) == 0
    assert "| gt | — | ok |" in capsys.readouterr().out
    text = bench_file.read_text()
    section = text[text.index("<!-- bench:runtime -->"):text.index("<!-- /bench:runtime -->")]
    assert "Machine:" in section and "Command: `edgegeo " in section
    assert f"{FRAMES} frames of 64×48" in section and "`cpu` device profile" in section

    runs = parse_table(section, "pipeline | backend | status")
    assert runs[0]["_header"] == THROUGHPUT_COLUMNS
    assert [(r["pipeline"], r["backend"]) for r in runs] == [
        ("gt", "—"), ("mono", "torch"), ("mono", "onnxruntime-fp32"), ("stereo", "—"),
        ("mvs", "—")]
    for row, model in zip(runs[3:], ("stereo", "mvs")):
        assert row["status"] == f"not shipped (no {model}.safetensors in {weights_dir}; " \
                                f"train it with `edgegeo train {model}`)"
        assert row["fps"] == row["fuse (ms)"] == "—"
    for row in runs[:3]:
        assert row["status"] == "ok" and row["frames (with depth)"] == f"{FRAMES} ({FRAMES})"
        assert math.isfinite(float(row["fps"])) and float(row["fps"]) > 0
        for column in ("end-to-end (ms)", "check (ms)", "fuse (ms)"):
            median, p95 = (float(v) for v in row[column].split(" / "))
            assert 0 <= median <= p95, (column, row)
    assert runs[0]["depth (ms)"] == "—" and runs[0]["load (s)"] == "—"
    assert runs[1]["scale (ms)"] != "—" and runs[0]["scale (ms)"] == "—"
    assert float(runs[1]["depth (ms)"].split(" / ")[0]) > 0
    assert runs[2]["load (s)"].endswith("(exported)")        # fresh artefact cache

    overhead = parse_table(section, "pipeline | backend | stages back to back (ms/frame)")
    assert overhead[0]["_header"] == OVERHEAD_COLUMNS and len(overhead) == 3
    for row in overhead:
        serial, streamed = (float(row[c]) for c in OVERHEAD_COLUMNS[2:4])
        assert serial > 0 and streamed > 0 and float(row["hand-off (ms/frame)"]) > 0
        assert math.isfinite(float(row["overhead (%)"])) and float(row["overhead (%)"]) > -100

    fusion = parse_table(section, "mesh | frames fused")
    assert fusion[0]["_header"] == FUSION_COLUMNS
    streamed, offline = fusion
    assert streamed["mesh"] == "streamed (gt pipeline)" and streamed["frames fused"] == str(FRAMES)
    assert abs(float(streamed["F-score@5cm"]) - float(offline["F-score@5cm"])) <= 1e-6
    assert {k: v for k, v in streamed.items() if k != "mesh"} == \
        {k: v for k, v in offline.items() if k != "mesh"}
    assert float(streamed["F-score@5cm"]) > 0.5
    assert "F-score streamed − offline: 0 " in section

    for name in ("gt", "mono-torch", "mono-onnxruntime-fp32"):
        stats = json.loads((out / name / "stats.json").read_text())
        assert stats["frames_out"] == FRAMES and stats["errors"] == 0, name


def test_stereo_and_mvs_measured_with_smoke_weights(tmp_path, tmp_path_factory):
    """stereo on pairs rendered beforehand; mvs: depth for keyframes only, the other frames
    pass on, counted as skipped."""
    weights = tmp_path / "weights"
    weights.mkdir()
    for name in ("stereo", "mvs"):
        smoke = smoke_weights(name, tmp_path_factory)
        for suffix in (".safetensors", ".json"):
            shutil.copy(smoke.with_suffix(suffix), weights)
    results = run_benchmark(BenchConfig(frames=12, pipelines=("stereo", "mvs"),
                                        backends=("torch",), size=(96, 64),
                                        weights_dir=str(weights), out=str(tmp_path / "out"),
                                        device_profile="cpu"))
    stereo, mvs = results["runs"]
    assert results["fusion"] is None
    assert stereo["status"] == mvs["status"] == "ok"
    assert stereo["frames"] == stereo["depth_frames"] == 12 and not stereo["skipped"]
    assert mvs["frames"] == 12 and 0 < mvs["depth_frames"] < 12
    assert sum(mvs["skipped"]["mvs"].values()) == 12 - mvs["depth_frames"]
    for row in (stereo, mvs):
        assert row["exported"] is None and row["load_s"] > 0 and row["errors"] == 0
        for key in ("fps", "serial_ms", "streamed_ms", "handoff_ms"):
            assert math.isfinite(row[key]) and row[key] > 0, key
        assert math.isfinite(row["overhead_pct"]) and row["overhead_pct"] > -100


def test_a_model_without_export_spec_runs_on_torch_only(monkeypatch, weights_dir):
    monkeypatch.setattr("edgegeo.export.available_exports", lambda: [])
    predictor, load = load_predictor("mono", "onnxruntime-int8", weights_dir /
                                     "mono-depth.safetensors", load_profile("cpu"))
    assert predictor is None and load == {"status": "no export spec for mono-depth (torch only)"}


def test_split_backend():
    assert split_backend("torch") == ("torch", "fp32")
    assert split_backend("onnxruntime-int8") == ("onnxruntime", "int8")


@pytest.mark.parametrize("argv, message", [
    (["--frames", "1"], "--frames must be >= 2"),
    (["--pipelines", "gt,lidar"], "--pipelines: unknown 'lidar'"),
    (["--pipelines", "gt,gt"], "names one twice"),
    (["--pipelines", ","], "--pipelines: give at least one of gt,mono,stereo,mvs"),
    (["--backends", "onnxruntime"], "--backends: unknown 'onnxruntime'; use some of torch,"),
    (["--weights-dir", "/nonexistent"], "--weights-dir /nonexistent: no such folder"),
    (["--size", "64"], "size must look like 256x192"),
    (["--mesh-points", "0"], "--mesh-points must be >= 1"),
    pytest.param(["--backends", "torch,tensorrt-fp16"], "TensorRT is not installed here",
                 marks=pytest.mark.skipif(tensorrt_available(), reason="TensorRT is here")),
])
def test_bad_options_are_one_clear_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setenv("EDGEGEO_BENCH_FILE", str(tmp_path / "benchmarks.md"))
    assert main(["bench", "runtime", *argv, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "benchmarks.md").exists() and not (tmp_path / "out").exists()
