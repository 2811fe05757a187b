"""'edgegeo bench mvs' with smoke weights on one tiny held-out walk-through: the section it
writes (tables, machine, command, pictures) and the ranges of its numbers; GT-aligned mono
depth; clear errors for bad arguments."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import edgegeo
from edgegeo.cli import main
from edgegeo.models.mono_depth import MonoDepthNet, MonoDepthNetConfig
from edgegeo.models.mvs import KeyframeBuffer, MVSNet, MVSNetConfig
from edgegeo.bench.mvs import align_mono_depth, held_out_walkthrough
from edgegeo.weights_io import save_weights

FRAMES = 8

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Smoke-trained mvs weights of SimpleRecon's design with the metadata and the dot-product
    cost volume (no validation pass), and an untrained tiny mono-depth network with its model card."""
    root = tmp_path_factory.mktemp("runs")
    weights = {}
    for label in ("metadata", "dot"):
        extra = ["--set", f"cost_volume={label}", "--set", "decoder=depth"]
        assert main(["train", "mvs", "--smoke", "--set", "val_scenes=0", *extra, "--out",
                     str(root / label)]) == 0
        weights[label] = root / label / "mvs.safetensors"
    torch.manual_seed(0)
    mono = MonoDepthNet(MonoDepthNetConfig.tiny())
    weights["mono"] = save_weights(mono, "mono-depth", {
        "recipe": "mono-depth", "command": "pytest", "data": "none", "seed": 0,
        "wall_time_s": 0.0, "metrics": {}, "model_config": mono.config.to_dict(),
        "predictor_options": {"resolution": 32}}, root / "mono")
    return weights


def parse_table(section: str, first_column: str) -> dict[str, dict[str, str]]:
    """The markdown table whose header starts with ``first_column``: row name → {column: cell}."""
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_column} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header, cells))
    return rows


def test_bench_writes_tables_pictures_and_sane_numbers(tmp_path, monkeypatch, capsys, runs):
    bench_file = tmp_path / "docs" / "benchmarks.md"
    monkeypatch.setenv("EDGEGEO_BENCH_FILE", str(bench_file))
    monkeypatch.setenv("EDGEGEO_CACHE", str(tmp_path / "cache"))        # the exported graph
    out = tmp_path / "pictures"
    assert main(["bench", "mvs", "--weights", f"metadata={runs['metadata']}",
                 f"dot={runs['dot']}@128x96", f"dot-ort={runs['dot']}@128x96:onnxruntime-fp32",
                 "--mono", str(runs["mono"]), "--scenes", "1",
                 "--frames", str(FRAMES), "--min-sources", "1", "--mesh-points", "5000",
                 "--out", str(out), "--record"]) == 0
    assert "| metadata |" in capsys.readouterr().out
    text = bench_file.read_text()
    section = text[text.index("<!-- bench:mvs -->"):text.index("<!-- /bench:mvs -->")]
    assert "Machine:" in section and "Command: `edgegeo " in section
    assert "scene seeds 1000–1000" in section and "96×64" in section     # smoke card resolution
    assert "**smoke run**" in section
    # The card's working resolution, or the one the weights argument names.
    assert f"- metadata: `{runs['metadata']}` at 96×64" in section
    assert f"- dot: `{runs['dot']}` at 128×96" in section
    assert f"- dot-ort: `{runs['dot']}` at 128×96 on ONNX Runtime fp32" in section

    depth = parse_table(section, "depth source")
    assert list(depth) == ["metadata", "dot", "dot-ort", "mono"]
    # The same network exported: the same depth within fp32 rounding.
    for column in ("AbsRel", "δ<1.05", "RMSE (m)"):
        assert float(depth["dot-ort"][column]) == pytest.approx(float(depth["dot"][column]),
                                                                abs=2e-3)
    # Depth for every keyframe: the first (no source yet, --min-sources 1) from the later
    # ones; mono on the first model's frames.
    _, walk = held_out_walkthrough(1000, FRAMES, (64, 96), 5.0)
    buffer = KeyframeBuffer()
    keyframes = sum(buffer.try_add(frame.world_T_cam) for frame in walk)
    assert 2 <= keyframes < FRAMES
    for row in depth.values():
        assert row["frames with depth"] == f"{keyframes}/{FRAMES}"
        assert 0 < float(row["AbsRel"]) < 3 and 0 < float(row["RMSE (m)"]) < 8
        assert 0 <= float(row["δ<1.05"]) <= float(row["δ<1.25"]) <= 1
        assert 0 < float(row["density"]) <= 1

    mesh = parse_table(section, "depth fused")
    assert list(mesh) == ["GT depth", "metadata", "dot", "dot-ort", "mono"]
    gt = mesh["GT depth"]
    assert float(gt["F-score@5cm"]) > 0.85 and float(gt["acc. (cm)"]) < 3.0
    assert float(gt["precision"]) > 0.9 and gt["scenes meshed"] == "1/1"
    for row in mesh.values():
        assert 0 <= float(row["F-score@5cm"]) <= float(gt["F-score@5cm"])
        if row["scenes meshed"] == "1/1":
            assert float(row["chamfer (cm)"]) > 0

    # The first model's depth per kind of surface: the shares add up, fractions are ordered.
    surfaces = parse_table(section, "surface")
    assert {"floor", "walls"} <= set(surfaces) <= {"floor", "walls", "ceiling",
                                                   "other structure", "objects"}
    shares = [float(row["share of GT pixels"]) for row in surfaces.values()]
    assert sum(shares) == pytest.approx(1, abs=0.03)
    for row in surfaces.values():
        assert 0 <= float(row["with depth"]) <= 1
        if row["within 2 %"] != "—":
            assert 0 <= float(row["within 2 %"]) <= float(row["within 5 %"]) <= 1
            assert float(row["AbsRel"]) >= 0

    speed = parse_table(section[section.index("| depth source | params (M)"):], "depth source")
    def count(**changes):
        return sum(p.numel() for p in MVSNet(MVSNetConfig.tiny(num_sources=2, **changes))
                   .parameters()) / 1e6

    assert count(cost_volume="dot") < count()                                       # no MLP
    for name, changes in (("metadata", {}), ("dot", {"cost_volume": "dot"})):
        assert float(speed[name]["params (M)"]) == pytest.approx(count(**changes), abs=5e-4)
    for name in ("metadata", "dot"):
        parts = [float(speed[name][f"{part} (ms)"]) for part in
                 ("cost volume", "network", "other", "fusion")]
        assert all(p >= 0 for p in parts) and parts[0] > 0 and parts[1] > 0
        assert float(speed[name]["total (ms)"]) > 0
    assert speed["mono"]["cost volume (ms)"] == "—" and float(speed["mono"]["network (ms)"]) > 0
    # One exported graph: its time is all network, parameters from the card.
    assert speed["dot-ort"]["cost volume (ms)"] == "—"
    assert float(speed["dot-ort"]["network (ms)"]) > 0 and float(speed["dot-ort"]["other (ms)"]) >= 0
    assert speed["dot-ort"]["params (M)"] == speed["dot"]["params (M)"]

    for name in ("depth_metadata", "depth_dot", "depth_dot-ort", "depth_mono", "mesh_metadata",
                 "mesh_dot", "mesh_dot-ort", "mesh_mono", "mesh_GT-depth"):
        assert (out / f"{name}.png").stat().st_size > 1000, name
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", section)
    assert len(links) == 9
    assert all((bench_file.parent / link).resolve().is_file() for link in links)


def test_align_mono_depth_recovers_affine_disparity():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 6.0, (12, 16)).astype(np.float32)
    gt[0, :4] = 0                                           # no GT there: not fitted
    disparity = 3.0 / np.where(gt > 0, gt, 1.0) - 0.2      # scale 1/3, shift 0.2/3
    depth = align_mono_depth(disparity, gt)
    assert depth.dtype == np.float32 and depth.shape == gt.shape
    np.testing.assert_allclose(depth[gt > 0], gt[gt > 0], rtol=1e-5)
    # Far or negative aligned disparity is clamped at the evaluation range (8 m).
    assert depth.max() <= 8.0 + 1e-5


@pytest.mark.parametrize("argv, message", [
    (["--weights", "nonsense"], "must look like NAME=PATH"),
    (["--weights", "a=@128x96"], "must look like NAME=PATH"),
    (["--weights", f"a={Path(edgegeo.__file__).parent / 'weights' / 'mvs.safetensors'}@100x64"],
     "multiples of 32"),
    (["--weights", "a=/nonexistent/mvs.safetensors"], "a: no weights file"),
    (["--weights", f"a={Path(edgegeo.__file__).parent / 'weights' / 'mvs.safetensors'}"
                   ":onnxruntime-fp64"], "a: unknown backend 'onnxruntime-fp64'"),
    (["--frames", "1"], "--frames must be >= 2"),
])
def test_bad_arguments_are_clear_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setenv("EDGEGEO_BENCH_FILE", str(tmp_path / "benchmarks.md"))
    assert main(["bench", "mvs", *argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "benchmarks.md").exists()
