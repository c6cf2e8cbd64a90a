"""A run's end on a disk too full for a plot: the exported model and ``summary.json`` still
count. Before, the OSError of ``rollout.png`` ended ``_finish`` before ``summary.json`` was
written, so a run whose model was exported was reported failed (and not resumable: the
launcher tells runs apart by ``summary.json``)."""

import errno
import json
from types import SimpleNamespace

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from pdesurrogate import export  # noqa: E402
from pdesurrogate.online import summary  # noqa: E402
from pdesurrogate.streaming import Scheduler  # noqa: E402
from pdesurrogate.temp_files import atomic_write  # noqa: E402

from .test_summary_plots_links import _Module  # noqa: E402


class _Receiver:
    committed_sims, discarded_sims, dropped_sims = {0}, set(), set()
    buffer = SimpleNamespace(stats=dict)

    def stats(self):
        return {"samples": 4, "bytes": 64, "malformed": 0, "sims_failed": 0, "sims_dropped": 0,
                "sims_duplicate": 0, "sims_discarded": 0, "samples_per_s": 1.0,
                "mb_per_s": 0.1}


def test_a_plot_that_cannot_be_written_leaves_the_summary_and_the_model(tmp_path, monkeypatch,
                                                                       capsys):
    def full_for_rollout(path, write):
        if path.name == "rollout.png":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return atomic_write(path, write)

    monkeypatch.setattr(summary, "atomic_write", full_for_rollout)
    monkeypatch.setattr(export, "export_surrogate", lambda module, out, overwrite: out)
    scheduler = Scheduler({"beta": (0.2, 1.0)}, 1)
    scheduler.report_done(scheduler.next_task(n_trainers=1).sim_id)
    hist = [{"step": k, "stream/samples_per_s": 10.0, "stream/buffer_fill": 0.5,
             "trainer/idle_fraction": 0.1, "stream/seen_mean": 1.0, "stream/seen_max": 2.0}
            for k in range(3)]
    monitor = SimpleNamespace(summary={"idle_fraction": 0.1}, history=hist)
    comm = SimpleNamespace(gather=lambda record, root: [record])
    summary._finish(tmp_path, SimpleNamespace(resume=False, simulations=1, n_steps=2, dt=0.1),
                    SimpleNamespace(global_step=3, limit_val_batches=0), _Receiver(), monitor,
                    SimpleNamespace(comm=comm, rank_in_role=0), scheduler, 1.0, "finished",
                    "the budget", None, {"samples": 0, "bytes": 0}, module=_Module(),
                    val_u=torch.rand(2, 3, 1, 8), val_p=torch.rand(2, 1))
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["model"] == str(tmp_path / "model")
    assert s["plots"] == [str(tmp_path / "online.png")]
    assert list(s["plots_not_written"]) == ["rollout.png"]
    assert "No space left on device" in s["plots_not_written"]["rollout.png"]
    assert not (tmp_path / "rollout.png").exists()
    err = " ".join(capsys.readouterr().err.split())
    assert "rollout.png not written: [Errno 28] No space left on device" in err, err


def test_without_failed_a_plot_error_still_raises(tmp_path, monkeypatch):
    """``_plots`` called without ``failed`` (as before) raises the write's error."""
    def full(path, write):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(summary, "atomic_write", full)
    with pytest.raises(OSError, match="No space left"):
        summary._plots(tmp_path, _Module(), SimpleNamespace(history=[]), torch.rand(2, 3, 1, 8),
                       torch.rand(2, 1), SimpleNamespace(dt=0.1))
