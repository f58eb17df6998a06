"""Freed batch-sized memory is reused by the process instead of being faulted in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

# A 64 MiB array, freed, then one of the same size: how many pages the second one faults in.
SECOND_BLOCK_FAULTS = """
import resource, sys
import numpy as np
from fer.utils.memory import keep_freed_memory
if sys.argv[1] == "keep" and not keep_freed_memory():
    sys.exit("not glibc")
np.ones(16 << 20, np.float32)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(16 << 20, np.float32)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", SECOND_BLOCK_FAULTS, mode], cwd=ROOT, capture_output=True, text=True)
    if result.stderr.strip() == "not glibc":
        pytest.skip("the C library here is not glibc: its allocator keeps its own behaviour")
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def test_a_freed_batch_sized_block_is_reused_without_page_faults():
    kept, default = faults("keep"), faults("default")
    assert default > 0 and kept < default / 10, (default, kept)
