"""rollout.png is a PNG whatever the user's matplotlibrc says: written through a file object
(a temporary renamed over the name), whose format matplotlib takes from rcParams
``savefig.format``, not from a name's extension (a mutation audit found dropping the png
context passed every test, the default format being png)."""

from types import SimpleNamespace

import matplotlib
import torch

matplotlib.use("Agg")

from pdesurrogate.online import summary  # noqa: E402

from .test_summary_plots_links import PNG, _Module  # noqa: E402


def test_the_plots_are_png_under_an_rc_asking_for_svg(tmp_path, monkeypatch):
    monkeypatch.setitem(matplotlib.rcParams, "savefig.format", "svg")
    hist = [{"step": k, "stream/samples_per_s": 10.0, "stream/buffer_fill": 0.5,
             "trainer/idle_fraction": 0.1, "stream/seen_mean": 1.0, "stream/seen_max": 2.0}
            for k in range(3)]
    paths = summary._plots(tmp_path, _Module(), SimpleNamespace(history=hist),
                           torch.rand(2, 3, 1, 8), torch.rand(2, 1), SimpleNamespace(dt=0.1))
    assert paths == [str(tmp_path / "online.png"), str(tmp_path / "rollout.png")]
    for path in paths:
        with open(path, "rb") as f:
            assert f.read(8) == PNG, path


def test_rollout_png_is_drawn_over_the_solvers_grid(tmp_path, monkeypatch):
    """rollout.png's axes are the solver's coordinates (online passes its grid, as predict
    passes a file's); before, space was labelled as a fraction of the domain and a 2-D domain
    of another shape than the unit square was drawn square."""
    import pdesurrogate.plots
    from pdesurrogate.datasets.generate import solver_grid
    from pdesurrogate.solvers import Heat2D

    seen = {}

    def recorder(*args, **kwargs):
        seen.update(kwargs)
        return str(args[4])

    monkeypatch.setattr(pdesurrogate.plots, "rollout_figure", recorder)
    solver = Heat2D(n=6)
    grid = solver_grid(solver)
    summary._plots(tmp_path, _Module(), SimpleNamespace(history=[]), torch.rand(2, 3, 1, 6, 6),
                   torch.rand(2, 1), SimpleNamespace(dt=0.1), grid=grid)
    assert seen["grid_names"] == grid[1] == ("y", "x")
    assert [g.tolist() for g in seen["grid"]] == [g.tolist() for g in grid[0]]
    assert len(seen["grid"][0]) == 6 and seen["grid"][0][0] > 0  # heat2d: interior nodes
