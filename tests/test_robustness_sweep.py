"""The adversarial sweep of ``edgegeo bench robustness`` as a test: every input ends as a clear
error or a valid result — no silent failure, unclear error, hang or crash."""
import pytest

from edgegeo.bench.robustness import run_sweep
from edgegeo.cli import main


@pytest.mark.usefixtures("one_torch_thread")
def test_every_bad_input_ends_clearly():
    rows = run_sweep(timeout_s=60, progress=lambda line: None, cli_main=main)
    unclear = [f"{r['api']}: {r['case']}: {r['outcome']} {r['detail']}" for r in rows
               if r["outcome"] not in ("clear error", "valid")]
    assert not unclear, "\n".join(unclear)
    assert len(rows) >= 100 and {r["outcome"] for r in rows} == {"clear error", "valid"}
