"""Opening a PDEBench grouped file of many groups (seconds: each group is looked up and
checked) shows its progress on stderr as the statistics do: only from GROUPS_PROGRESS groups
on, not when asked not to, and not on a rank other than 0 unless asked."""

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import open_dataset
from pdesurrogate.datasets import pdebench as pdebench_module
from pdesurrogate.datasets import progress as progress_module

GROUPS, T, X = 7, 3, 4
# where torchrun, Lightning's DDP, Open MPI, MPICH and Slurm give a process its rank
RANKS = ("RANK", "LOCAL_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID")


@pytest.fixture
def grouped(tmp_path, monkeypatch):
    """A 7-group diffusion-sorption file; the threshold lowered to 7 groups, an update every
    2 groups and a plain line at each (stderr is captured: not a terminal)."""
    for name in RANKS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pdebench_module, "GROUPS_PROGRESS", GROUPS, raising=False)
    monkeypatch.setattr(pdebench_module, "_GROUPS_PER_UPDATE", 2, raising=False)
    monkeypatch.setattr(progress_module, "PLAIN_PROGRESS_S", 0.0)
    path = tmp_path / "1D_diff-sorp_NA_NA.h5"
    with h5py.File(path, "w") as f:
        for i in range(GROUPS):
            f[f"{i:04d}/data"] = np.full((T, X, 1), i, np.float32)
            f[f"{i:04d}/grid/x"] = ((np.arange(X) + 0.5) / X).astype(np.float32)
            f[f"{i:04d}/grid/t"] = np.linspace(0, 1, T).astype(np.float32)
    return path


def _counts(err: str) -> list[str]:
    return [line.split(": ")[1].split(" ")[0] for line in err.splitlines()
            if line.startswith("checking the groups of 1D_diff-sorp_NA_NA.h5: ")]


def test_a_file_of_many_groups_reports_checking_them(grouped, capsys):
    with open_dataset(grouped) as d:
        assert d.u.shape == (GROUPS, T, 1, X)
        np.testing.assert_array_equal(d.u[:, 0, 0, 0], np.arange(GROUPS))
    err = capsys.readouterr().err
    assert _counts(err) == ["2/7", "4/7", "6/7", "7/7"], err
    assert "7/7 groups (100 %)" in err


def test_fewer_groups_or_progress_off_stay_quiet(grouped, capsys, monkeypatch):
    open_dataset(grouped, progress=False).close()
    assert _counts(capsys.readouterr().err) == []
    monkeypatch.setattr(pdebench_module, "GROUPS_PROGRESS", GROUPS + 1)
    open_dataset(grouped).close()
    assert _counts(capsys.readouterr().err) == []


@pytest.mark.parametrize("variable", RANKS)
def test_ranks_other_than_0_stay_quiet_unless_asked(grouped, capsys, monkeypatch, variable):
    """Every rank of a fit opens the file; rank 0's line is enough (as the statistics show on
    global rank 0 only). Rank 0 of the same launcher still shows it."""
    monkeypatch.setenv(variable, "1")
    open_dataset(grouped).close()
    assert _counts(capsys.readouterr().err) == []
    open_dataset(grouped, progress=True).close()
    assert _counts(capsys.readouterr().err)[-1] == "7/7"
    monkeypatch.setenv(variable, "0")
    open_dataset(grouped).close()
    assert _counts(capsys.readouterr().err)[-1] == "7/7"
