"""``pdesurrogate predict``'s table of PDEBench-style errors on a narrow terminal
(``COLUMNS=40``): one short block per column, a ``metric value`` line per metric. Before, the
61-column table was folded by the terminal's width, each row's cells broken over two lines
('  frmse_mid      0.001232    0.005091   ' / '0.003148')."""

import re

import numpy as np

from pdesurrogate.cli import main
from pdesurrogate.predict import metrics_table
from tests.test_predict import _trained_on, _varied

METRICS = {"rmse": np.array([0.0, 0.25, 0.5, 0.75]),
           "max_error": np.array([0.0, 1.0, 3.0, 2.0])}


def test_a_narrow_width_gives_one_line_per_metric_and_column():
    wide = metrics_table(METRICS, 2).splitlines()
    assert wide[1:4] == ["  metric           step 1      step 3        mean",
                         "  rmse               0.25        0.75         0.5",
                         "  max_error             1           2           3"]
    narrow = metrics_table(METRICS, 2, width=40).splitlines()
    assert narrow[1:-1] == ["  step 1:", "    rmse       0.25", "    max_error  1",
                            "  step 3:", "    rmse       0.75", "    max_error  2",
                            "  mean over steps 1..3:", "    rmse       0.5",
                            "    max_error  3"]
    assert narrow[0] == wide[0] and narrow[-1] == wide[-1]
    assert metrics_table(METRICS, 2, width=len(wide[1])) == "\n".join(wide)  # it fits


def test_predict_on_a_40_column_terminal_prints_each_metric_on_one_line(tmp_path, capsys,
                                                                       monkeypatch):
    data = _varied(tmp_path / "train.nc")
    _, model = _trained_on(data, tmp_path / "model")
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")  # rich takes stderr for a terminal
    assert main(["predict", "--model", model, "--input", data, "--out",
                 str(tmp_path / "p.nc")]) == 0
    err = capsys.readouterr().err.splitlines()
    for name in ("rmse", "nrmse", "vrmse", "max_error", "crmse", "brmse", "frmse_low",
                 "frmse_mid"):
        rows = [line for line in err if re.fullmatch(rf"    {name} +\S+", line)]
        assert len(rows) == 3 and all(float(r.split()[1]) >= 0 for r in rows), (name, err)
    # a log or pipe (no folding, whatever COLUMNS says) keeps the table
    monkeypatch.delenv("TTY_INTERACTIVE")
    assert main(["predict", "--model", model, "--input", data, "--out",
                 str(tmp_path / "q.nc")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("  metric ") for line in err), err
    assert not any(re.fullmatch(r"    rmse +\S+", line) for line in err), err


def test_the_table_is_kept_up_to_its_own_width_and_only_there():
    wide = metrics_table(METRICS, 2).splitlines()
    assert metrics_table(METRICS, 2, width=len(wide[1]) - 1) != "\n".join(wide)


def test_a_band_nan_at_some_steps_only_is_not_said_to_be_empty():
    """A rollout that turned NaN late (its later steps NaN) is not a grid without the band."""
    table = metrics_table({"frmse_high": np.array([0.0, 0.5, np.nan, np.nan])}, 2)
    assert "no Fourier mode" not in table
    assert "no Fourier mode" in metrics_table(
        {"frmse_high": np.array([np.nan, np.nan, np.nan])}, 2)
