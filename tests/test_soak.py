"""The soak benchmark's machinery: its verdict on known samples, and a short real run."""
import pytest

from edgegeo.bench.soak import run_soak, verdict


def test_verdict_of_known_samples():
    samples = [dict(t=float(i), frames=100 * i, rss_mib=500.0 + (i >= 5) * 10 * (i - 5),
                    fds=20, threads=7 + (i == 9), messages=600 * i) for i in range(10)]
    result = verdict(samples, frames=1000)
    assert result["rss_start_mib"] == 500.0 and result["rss_growth"] == pytest.approx(0.08)
    assert result["fds"] == (20, 20) and result["threads"] == (7, 8)
    assert result["fps_steady"] == pytest.approx(100.0)
    assert result["messages_per_s"] == pytest.approx(600.0)
    with pytest.raises(ValueError, match="too short"):
        verdict(samples[:1], frames=1000)


@pytest.mark.usefixtures("one_torch_thread")
def test_a_short_soak_runs_and_publishes():
    result = run_soak(frames=600, sample_s=0.2, progress=lambda line: None)
    assert result["samples"] and result["samples"][-1]["frames"] > 0
    assert result["messages_per_s"] > 0 and result["fds"][0] > 0
