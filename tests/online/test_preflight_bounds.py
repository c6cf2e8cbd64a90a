"""The buffer's size against the training items it must hold, at the bounds (before any MPI
job): a fifo or firo buffer whose capacity is exactly one batch is taken (one below is refused),
and a ``buffer.max_mb`` that holds exactly ``buffer.watermark`` items is no warning (one item
fewer is)."""

import importlib.util
from pathlib import Path

import pytest

from pdesurrogate.online import STATE_ITEMSIZE, UsageError, _parse, build_solver, check_buffer_size

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def check(tmp_path, *args):
    """``check_buffer_size`` on the shared test config (batch_size 16, a 1-channel advection
    solver of 32 points) with ``args``."""
    cfg = helpers.write_config(tmp_path)
    ns = _parse(["--config", str(cfg), *args], lightning=False)[1]
    return check_buffer_size(ns, build_solver(ns))


@pytest.mark.parametrize("kind", ["fifo", "firo"])
def test_a_capacity_of_exactly_one_batch_is_taken(tmp_path, kind):
    assert check(tmp_path, "--buffer.kind", kind, "--buffer.capacity", "16",
                 "--buffer.watermark", "1") is None
    with pytest.raises(UsageError, match=r"buffer.capacity \(15\) is below batch_size \(16\)"):
        check(tmp_path, "--buffer.kind", kind, "--buffer.capacity", "15",
              "--buffer.watermark", "1")


def test_a_byte_bound_holding_exactly_the_watermark_is_no_warning(tmp_path):
    item = 2 * 32 * STATE_ITEMSIZE  # a pair of 1-channel states of 32 points
    fits = 3000 // item  # what 0.003 MB holds
    assert check(tmp_path, "--buffer.max_mb", "0.003", "--buffer.watermark", str(fits)) is None
    warning = check(tmp_path, "--buffer.max_mb", "0.003", "--buffer.watermark", str(fits + 1))
    assert f"holds {fits} training items of {item} bytes" in warning
    assert f"fewer than buffer.watermark ({fits + 1})" in warning
