"""The shared timing helper: warm-up calls are untimed, the median of the timed calls."""
import pytest

from edgegeo.timing import median_time


def test_median_time_counts_calls_and_returns_the_last_result():
    calls = []
    result, seconds = median_time(lambda: calls.append(1) or len(calls), repeats=3, warmup=2)
    assert result == 5 and len(calls) == 5 and seconds >= 0
    with pytest.raises(ValueError, match="repeats"):
        median_time(lambda: None, repeats=0)
