"""The benchmarks' measurement helpers."""

import sys

import numpy as np
from benchmarks.common import run_measured, self_peak_rss


def test_a_childs_peak_is_its_own_not_this_process_peak():
    """Linux keeps a parent's peak RSS in its child's ``ru_maxrss`` across ``exec``: a small
    child of a large process must still read as small, and a large child as large."""
    small = [sys.executable, "-c", "import time; time.sleep(0.3)"]
    held = np.ones(400_000_000 // 8)  # this process's peak is now above 400 MB
    assert self_peak_rss() > 400e6
    _, peak, _ = run_measured(small)
    assert 0 < peak < 200e6
    big = [sys.executable, "-c", "import numpy as np, time; a = np.ones(600_000_000 // 8); "
           "time.sleep(0.1)"]  # fmt: skip
    _, peak, _ = run_measured(big)
    assert 600e6 < peak < 900e6
    # the largest of the child and its descendants: here a shell whose child is large
    nested = ["sh", "-c", f"{sys.executable} -c 'import numpy as np, time; "
              "a = np.ones(300_000_000 // 8); time.sleep(0.2)'; true"]  # fmt: skip
    _, peak, _ = run_measured(nested)
    assert 300e6 < peak < 400e6
    del held
