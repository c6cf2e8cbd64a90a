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


def lockstep(tmp_path, *args):
    """``check_lockstep_room`` on the shared test config with ``args``."""
    from pdesurrogate.online import check_lockstep_room

    cfg = helpers.write_config(tmp_path)
    ns = _parse(["--config", str(cfg), *args], lightning=False)[1]
    return check_lockstep_room(ns, build_solver(ns))


@pytest.mark.parametrize("kind", ["fifo", "firo"])
def test_lockstep_ranks_whose_buffers_cannot_take_a_simulation_past_the_watermark_are_warned(
        tmp_path, kind):
    """Two trainer ranks with fifo/firo buffers of watermark + n_steps - 1 items: a warning
    naming the numbers and the way out; exactly watermark + n_steps, one rank, or a reservoir
    buffer: none."""
    base = ["--buffer.kind", kind, "--buffer.watermark", "16", "--n_steps", "6"]
    warning = lockstep(tmp_path, *base, "--trainers", "2", "--buffer.capacity", "21")
    assert warning.startswith(f"2 trainer ranks draw from {kind} buffers that hold 21 items "
                              "(buffer.capacity), fewer than buffer.watermark + n_steps (22")
    assert "reservoir" in warning
    assert lockstep(tmp_path, *base, "--trainers", "2", "--buffer.capacity", "22") is None
    assert lockstep(tmp_path, *base, "--trainers", "1", "--buffer.capacity", "21") is None
    assert lockstep(tmp_path, "--buffer.kind", "reservoir", "--buffer.watermark", "16",
                    "--n_steps", "6", "--trainers", "2", "--buffer.capacity", "21") is None


def test_lockstep_room_counts_what_max_mb_holds(tmp_path):
    item = 2 * 32 * STATE_ITEMSIZE  # a pair of 1-channel states of 32 points
    mb = f"{21 * item / 1e6:.6f}"  # exactly 21 items
    warning = lockstep(tmp_path, "--buffer.kind", "fifo", "--buffer.watermark", "16",
                       "--n_steps", "6", "--trainers", "2", "--buffer.capacity", "1000",
                       "--buffer.max_mb", mb)
    assert "hold 21 items (buffer.max_mb)" in warning
