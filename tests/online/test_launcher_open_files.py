"""``pdesurrogate online`` refuses, before its MPI job starts, an open-files limit (``ulimit -n``)
below what its ranks need (``open_files``). Under ``ulimit -n 32`` the 4-rank job of
configs/online/burgers_fno.yaml died in ``MPI_Init`` ("UCX ERROR ... Too many open files",
"Fatal error in internal_Init_thread"), and a 2-rank one in the trainer's set-up, nothing
naming the limit.

No limit is lowered here: the soft limit the launcher reads is replaced."""

import importlib.util
import resource
from pathlib import Path

import pytest

from pdesurrogate.cli import main
from pdesurrogate.online.open_files import files_needed, open_files_error

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


# the least limits measured (module docstring): online jobs of 2 to 8 ranks, mpiexec for 16
@pytest.mark.parametrize(("ranks", "least"),
                         [(2, 34), (3, 34), (4, 36), (6, 40), (8, 47), (16, 79)])
def test_a_limit_below_the_measured_need_is_refused_and_the_need_itself_is_not(ranks, least):
    assert files_needed(ranks) == least
    assert open_files_error(ranks, soft=least) is None
    message = open_files_error(ranks, soft=least - 1)
    assert message is not None and "\n" not in message
    assert message.startswith(f"the open-files limit (ulimit -n) is {least - 1}, and the "
                              f"{ranks} ranks of the MPI job need at least {least}")


def test_this_process_s_own_limit_is_read(monkeypatch):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    monkeypatch.setattr(resource, "getrlimit", lambda which: (
        (32, hard) if which == resource.RLIMIT_NOFILE else (-1, -1)))
    assert "is 32" in open_files_error(2)
    monkeypatch.setattr(resource, "getrlimit", lambda which: (
        (resource.RLIM_INFINITY, resource.RLIM_INFINITY)))
    assert open_files_error(1000) is None


def test_online_stops_with_status_2_before_its_job_starts(tmp_path, monkeypatch, capsys):
    real = resource.getrlimit
    monkeypatch.setattr(resource, "getrlimit", lambda which: (
        (32, real(which)[1]) if which == resource.RLIMIT_NOFILE else real(which)))
    cfg, out = helpers.write_config(tmp_path), tmp_path / "run"
    assert main(["online", "--config", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pdesurrogate online: error: the open-files limit (ulimit -n) is 32, "
                          "and the 3 ranks of the MPI job need at least 34")
    assert not out.exists()
