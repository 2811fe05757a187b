"""``edgegeo export`` end to end on a tiny randomly initialised network."""
import json

from edgegeo.cli import main


def test_export_cli_writes_onnx_and_report(tmp_path, capsys):
    code = main(["export", "mono-depth", "--precision", "fp16", "--config", "tiny",
                 "--random-init", "--size", "32x48", "--parity", "random:1",
                 "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "mono-depth.fp16.onnx" in out and "relative error" in out
    report = json.loads((tmp_path / "mono-depth.fp16.json").read_text())
    assert report["weights"]["source"] == "random-init"
    assert report["precision"] == "fp16" and report["parity_passed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mono-depth.fp16.json",
                                                          "mono-depth.fp16.onnx"]


def test_export_cli_rejects_bad_size(tmp_path, capsys):
    assert main(["export", "mono-depth", "--config", "tiny", "--random-init",
                 "--size", "30x48", "--out", str(tmp_path)]) == 2
    assert "multiples of 16" in capsys.readouterr().err
