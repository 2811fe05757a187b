"""Fixtures shared by several test modules."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module single-threaded (restored afterwards): tiny tensors gain nothing from
    intra-op threads, and on a busy 2-core machine thread synchronisation dominates."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
