"""Benchmark and evaluation commands write docs/benchmarks.md only with ``--record``: by
default they print (and save files under ``--out``) and leave the source tree alone."""
import pytest

from edgegeo import bench_report
from edgegeo.cli import build_parser, main

# Every command that measures something, with the arguments it needs to parse.
BENCHMARK_COMMANDS = [
    ["eval", "stereo"], ["eval", "mono"], ["bench", "op"], ["bench", "upsample"],
    ["bench", "mvs"], ["bench", "runtime"], ["data", "bench"], ["export", "mono-depth"],
]
TINY_OP = ["bench", "op", "--channels", "2", "--size", "16", "--radius", "1", "--repeats", "1"]


@pytest.fixture
def bench_files(tmp_path, monkeypatch):
    """The default benchmarks file moved into ``tmp_path/docs`` (no $EDGEGEO_BENCH_FILE), and
    ``tmp_path/work`` as the current folder, so a stray default path would show up there.
    ``bench op``'s memory probes (a fresh Python process each; tests/test_ops_bench.py runs
    them) are stubbed out to keep the command cheap."""
    monkeypatch.setattr("edgegeo.bench.op.peak_mib", lambda *args: 0.0)
    monkeypatch.delenv(bench_report.ENV_VAR, raising=False)
    monkeypatch.setattr(bench_report, "DEFAULT_PATH", tmp_path / "docs" / "benchmarks.md")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path / "docs" / "benchmarks.md", work


@pytest.mark.parametrize("command", BENCHMARK_COMMANDS, ids=" ".join)
def test_record_is_an_opt_in_flag_of_every_benchmark(command):
    parser = build_parser()
    assert parser.parse_args(command).record is False
    assert parser.parse_args([*command, "--record"]).record is True
    for old in ("--no-record", "--no-report"):
        with pytest.raises(SystemExit):
            parser.parse_args([*command, old])


def test_bench_op_writes_the_benchmarks_file_only_with_record(bench_files, capsys):
    bench_file, work = bench_files
    assert main(TINY_OP) == 0
    printed = capsys.readouterr().out
    assert "| 2 | forward |" in printed and "wrote" not in printed
    assert not bench_file.exists() and not bench_file.parent.exists()
    assert not any(work.iterdir())                          # nothing in the current folder

    assert main([*TINY_OP, "--record"]) == 0
    assert f"wrote {bench_file}" in capsys.readouterr().out
    recorded = bench_file.read_text()
    assert "<!-- bench:adaptive-conv-op -->" in recorded

    assert main(TINY_OP) == 0                               # an existing file stays as it is
    assert bench_file.read_text() == recorded
    assert not any(work.iterdir())


def test_bench_file_variable_redirects_the_record(bench_files, tmp_path, monkeypatch):
    bench_file, _ = bench_files
    other = tmp_path / "elsewhere" / "bench.md"
    monkeypatch.setenv(bench_report.ENV_VAR, str(other))
    assert main([*TINY_OP, "--record"]) == 0
    assert "<!-- bench:adaptive-conv-op -->" in other.read_text()
    assert not bench_file.exists()


def test_pictures_go_to_out_unless_recorded(bench_files, tmp_path):
    bench_file, _ = bench_files
    assert bench_report.picture_path("a.png", "out/x", record=False).as_posix() == "out/x/a.png"
    recorded = bench_report.picture_path("a.png", "out/x", record=True)
    assert recorded == bench_file.parent / "images" / "a.png"
    assert bench_report.link(recorded) == "images/a.png"


def test_export_record_needs_benchmark(bench_files, capsys):
    bench_file, work = bench_files
    assert main(["export", "mono-depth", "--record"]) == 2
    assert "add --benchmark" in capsys.readouterr().err
    assert not bench_file.exists() and not any(work.iterdir())


def test_markdown_table_keeps_a_pipe_inside_its_cell():
    table = bench_report.markdown_table([
        {"split": "all ops", "error": "max |R R^T - I| too large"},
        {"split": r"gt\|mono", "error": 0.25}])
    rows = table.splitlines()
    assert rows[2] == r"| all ops | max \|R R^T - I\| too large |"
    assert rows[3] == r"| gt\|mono | 0.25 |"                  # already escaped: left as is
