"""``edgegeo data`` command line: render writes shards and a contact sheet, bench writes its
section, help is available at every level."""
import pytest

from edgegeo.cli import main
from edgegeo.data.synthetic import read_stereo_shard


def test_data_render_stereo_writes_shard_and_sheet(tmp_path, capsys):
    assert main(["data", "render", "--rig", "stereo", "--out", str(tmp_path), "--frames", "2",
                 "--width", "64", "--height", "48", "--seed", "2"]) == 0
    pairs = read_stereo_shard(tmp_path / "scene_000002")
    assert len(pairs) == 2 and pairs[0].left.rgb.shape == (48, 64, 3)
    assert (tmp_path / "contact_sheet.png").stat().st_size > 1000


def test_data_bench_writes_render_section(tmp_path, monkeypatch):
    bench_file = tmp_path / "benchmarks.md"
    monkeypatch.setenv("EDGEGEO_BENCH_FILE", str(bench_file))
    assert main(["data", "bench", "--frames", "3", "--width", "32", "--height", "24",
                 "--record"]) == 0
    text = bench_file.read_text()
    assert "<!-- bench:render -->" in text and "frames/s" in text


@pytest.mark.parametrize("argv", [["data", "--help"], ["data", "render", "--help"], ["data", "bench", "--help"]])
def test_help_at_every_level(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage: edgegeo data" in capsys.readouterr().out


def test_bad_arguments_fail_cleanly(tmp_path, capsys):
    assert main(["data", "render", "--rig", "walkthrough", "--out", str(tmp_path), "--frames", "0"]) == 2
    assert "--frames" in capsys.readouterr().err
    assert main(["data"]) == 2
