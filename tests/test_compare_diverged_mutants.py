"""Mutants of compare's handling of a diverged model that tests/test_compare_diverged.py let
live: among models that diverged, the one that stayed finite longer ranks higher; the plot's
legend says where a model diverged instead of drawing it; a steady map whose prediction is NaN
(step 0) is ranked last with its note. Tiny 1-D FNOs, CPU."""

import numpy as np
import torch
from matplotlib.figure import Figure
from safetensors.torch import load_file, save_file

from pdesurrogate.compare import compare_models, notes
from pdesurrogate.datasets import DatasetWriter

from .test_compare import NX, _export, _steady_export, data, models  # noqa: F401 (fixtures)
from .test_compare_diverged import _blowing_up, _broken


def test_the_later_a_model_diverged_the_higher_it_ranks_among_those(models, data,  # noqa: F811
                                                                   tmp_path, monkeypatch):
    """Ranked good, then the one that diverged later, then the one that diverged at step 1;
    the plot's legend names both diverged models' steps, the good one's mean."""
    legends = []

    def savefig(fig, *args, **kwargs):
        legends.append([t.get_text() for t in fig.axes[0].get_legend().get_texts()])

    monkeypatch.setattr(Figure, "savefig", savefig)
    broken, blowup = _broken(tmp_path), _blowing_up(tmp_path)
    rep = compare_models(data, [broken, models[0], blowup], plot=str(tmp_path / "p.png"),
                         progress=False)
    assert [r.model_dir for r in rep.results] == [models[0], blowup, broken]
    later = rep.results[1].diverged_at
    assert rep.results[2].diverged_at == 1 < later
    good = rep.results[0]
    assert legends == [[f"{good.label} (mean {good.scores['rel_l2_mean']:.3g})",
                        f"blowup (diverged at step {later})", "broken (diverged at step 1)"]]


def test_a_steady_map_predicting_nan_ranks_last_with_its_note(tmp_path):
    """Its one prediction (model step 0) is not finite: ranked below the other, NaN errors and
    a note saying it predicts NaN or inf."""
    good = _steady_export(tmp_path / "good")
    bad = _steady_export(tmp_path / "bad")
    weights = load_file(f"{bad}/model.safetensors")
    first = next(n for n, w in weights.items() if w.is_floating_point())
    weights[first] = torch.full_like(weights[first], float("nan"))
    save_file(weights, f"{bad}/model.safetensors")
    path = tmp_path / "steady.nc"
    x = np.arange(NX) / NX
    a = np.stack([np.sin(2 * np.pi * x + i) for i in range(3)])[:, None, None]
    with DatasetWriter(path, "burgers1d", (x,), ("x",), np.array([0.0]), ["a", "u"], [],
                       3) as w:
        w.write(0, np.concatenate([a, 2 * a], axis=2).astype(np.float32))
    rep = compare_models(str(path), [bad, good], labels={"bad": bad, "good": good},
                         progress=False)
    assert [(r.label, r.diverged_at) for r in rep.results] == [("good", None), ("bad", 0)]
    assert np.isfinite(rep.results[0].scores["rel_l2_mean"])
    assert notes(rep) == ["NaN: bad: predicts NaN or inf (its rollout is NaN or inf there): "
                          "not scored, ranked last"]
