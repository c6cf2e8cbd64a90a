"""``pdesurrogate configs --copy`` onto a disk that fills up part way (here a file size limit,
RLIMIT_FSIZE, lowered in this process; EFBIG reaches the writer as ENOSPC does): the error names
the config that could not be written (before: "OSError: [Errno 28] No space left on device",
naming nothing), the configs copied before it are whole, and no temporary is left.
"""

import contextlib
import errno
import resource
import signal

import pytest

from pdesurrogate.shipped_configs import copy_configs, shipped_configs

LIMIT = 1024  # bytes: the data configs fit, several fit and online configs do not


@contextlib.contextmanager
def _limited():
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)


def test_copy_past_the_limit_names_the_config_and_leaves_whole_files(tmp_path):
    shipped = {f"{c.kind}/{c.name}.yaml": c.file.read_bytes() for c in shipped_configs()}
    too_big = [k for k, data in shipped.items() if len(data) > LIMIT]
    assert too_big and len(too_big) < len(shipped)  # the limit falls among the files
    with _limited(), pytest.raises(OSError) as err:
        copy_configs(tmp_path)
    assert err.value.errno == errno.EFBIG, err.value
    failed = err.value.filename
    assert str(err.value) == f"[Errno 27] File too large: '{failed}'"
    assert failed.removeprefix(f"{tmp_path / 'configs'}/") in too_big, failed
    left = {str(p.relative_to(tmp_path / "configs")): p.read_bytes()
            for p in (tmp_path / "configs").rglob("*") if p.is_file() or p.is_symlink()}
    assert left and set(left) <= set(shipped), sorted(left)  # no temporary among them
    assert all(shipped[name] == data for name, data in left.items())
