"""``edgegeo bench op`` end to end on a tiny problem, and its memory probe."""
from edgegeo.cli import main
from edgegeo.bench.op import peak_mib


def test_bench_op_writes_its_section(tmp_path, monkeypatch, capsys):
    report = tmp_path / "benchmarks.md"
    monkeypatch.setenv("EDGEGEO_BENCH_FILE", str(report))
    assert main(["bench", "op", "--channels", "2", "--size", "16", "--radius", "1",
                 "--repeats", "1", "--record"]) == 0
    text = report.read_text()
    assert "<!-- bench:adaptive-conv-op -->" in text and "output 16x16, r = 1" in text
    rows = [line for line in text.splitlines() if line.startswith("| 2 |")]
    assert [row.split("|")[2].strip() for row in rows] == ["forward", "forward+backward"]
    assert "wrote" in capsys.readouterr().out


def test_bench_op_rejects_zero_repeats(capsys):
    assert main(["bench", "op", "--repeats", "0"]) == 2
    assert "--repeats must be >= 1" in capsys.readouterr().err


def test_memory_probe_sees_the_unfolded_input():
    # C=16, 64x64 output, 7x7 windows: the unfolded input alone is 16*49*64*64*4 B = 12.25 MiB,
    # adaptive_conv's output 0.25 MiB
    unfold = peak_mib("unfold", "forward", 16, 64, 3)
    ours = peak_mib("cython", "forward", 16, 64, 3)
    assert 10 < unfold < 20
    assert ours < 2
