"""tune_malloc: freed activation-sized blocks are reused instead of faulted in again."""

import os
import subprocess
import sys

import pytest

from pdesurrogate.allocator import tune_malloc

# six 8 MiB arrays allocated and freed 30 times, as a training step does with its activations;
# prints the minor page faults of the loop
LOOP = """
import resource, sys, numpy as np
if sys.argv[1] == "tuned":
    from pdesurrogate.allocator import tune_malloc
    assert tune_malloc()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    arrays = [np.ones(1 << 21, np.float32) for _ in range(6)]
    del arrays
f0 = faults()
for _ in range(30):
    arrays = [np.ones(1 << 21, np.float32) for _ in range(6)]
    del arrays
print(faults() - f0)
"""

glibc_linux = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc only")


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", LOOP, mode], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    return int(out.stdout.strip())


@glibc_linux
def test_tuned_malloc_reuses_freed_memory():
    """Untuned, the loop faults its 48 MiB in again and again (> 10k faults); tuned, it reuses
    the freed blocks (< 1 % of that)."""
    plain, tuned = _faults("plain"), _faults("tuned")
    assert plain > 10_000
    assert tuned < plain / 100


@glibc_linux
def test_users_malloc_variables_win(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert tune_malloc() is False
