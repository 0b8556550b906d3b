"""Shared fixtures."""
import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a test module: tiny models run faster on a shared 2-core machine (competing OpenMP
    threads spin-wait), and float reductions keep one order, which bit-exact comparisons rely on."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
