"""Opening a PDEBench grouped file of many groups (seconds: each group is looked up and
checked) shows its progress on stderr as the statistics do: only from GROUPS_PROGRESS groups
on, not when asked not to, and not on a rank other than 0 unless asked. So does the walk over
all its links before (refuse_links_out: ~0.7 s for 20,000 groups, 4-5 s for 50,000)."""

import h5py
import numpy as np
import pytest

from pdesurrogate.datasets import open_dataset
from pdesurrogate.datasets import pdebench as pdebench_module
from pdesurrogate.datasets import progress as progress_module
from pdesurrogate.datasets import reader as reader_module

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
    monkeypatch.setattr(reader_module, "_LINKS_PER_UPDATE", 2, raising=False)
    monkeypatch.setattr(progress_module, "PLAIN_PROGRESS_S", 0.0)
    path = tmp_path / "1D_diff-sorp_NA_NA.h5"
    with h5py.File(path, "w") as f:
        for i in range(GROUPS):
            f[f"{i:04d}/data"] = np.full((T, X, 1), i, np.float32)
            f[f"{i:04d}/grid/x"] = ((np.arange(X) + 0.5) / X).astype(np.float32)
            f[f"{i:04d}/grid/t"] = np.linspace(0, 1, T).astype(np.float32)
    return path


def _counts(err: str, what: str = "groups") -> list[str]:
    return [line.split(": ")[1].split(" ")[0] for line in err.splitlines()
            if line.startswith(f"checking the {what} of 1D_diff-sorp_NA_NA.h5: ")]


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


def test_walking_the_links_of_many_groups_shows_progress(grouped, capsys):
    """Counted in groups as the walk enters them, before the groups are checked; the walk
    each process repeats on its first read (a DataLoader worker's would repeat rank 0's
    line) stays quiet."""
    with open_dataset(grouped) as d:
        err = capsys.readouterr().err
        assert _counts(err, "links") == ["2/7", "4/7", "6/7", "7/7"], err
        assert err.index("checking the links of") < err.index("checking the groups of")
        np.testing.assert_array_equal(d.u[:, 0, 0, 0], np.arange(GROUPS))
    assert _counts(capsys.readouterr().err, "links") == []


def test_the_links_walk_is_quiet_where_the_group_check_is(grouped, capsys, monkeypatch):
    """Quiet with progress=False, below the threshold, and on rank 1 unless asked."""
    open_dataset(grouped, progress=False).close()
    assert _counts(capsys.readouterr().err, "links") == []
    monkeypatch.setenv("SLURM_PROCID", "1")
    open_dataset(grouped).close()
    assert _counts(capsys.readouterr().err, "links") == []
    open_dataset(grouped, progress=True).close()
    assert _counts(capsys.readouterr().err, "links")[-1] == "7/7"
    monkeypatch.delenv("SLURM_PROCID")
    monkeypatch.setattr(pdebench_module, "GROUPS_PROGRESS", GROUPS + 1)
    open_dataset(grouped).close()
    assert _counts(capsys.readouterr().err, "links") == []


def test_a_link_out_is_still_refused_with_progress_on(grouped, capsys):
    """The walk stops at an external link and refuses the file, naming it: its progress
    goes as far as the group holding it, and no closing line claims the walk finished."""
    with h5py.File(grouped, "a") as f:
        f["0003/grid/z"] = h5py.ExternalLink("/etc/passwd", "/x")
    with pytest.raises(ValueError, match=r"0003/grid/z.*external link"):
        open_dataset(grouped)
    assert _counts(capsys.readouterr().err, "links") == ["2/7", "4/7"]
