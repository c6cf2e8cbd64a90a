"""training_curves_figure with the learning-rate columns Lightning's LearningRateMonitor-like
log writes for several optimisers or parameter groups (train/lr_{i}_{j}), or with nothing but
a learning rate; metrics_csv_curves leaves out the step and epoch columns. Cases a mutation
audit found no test held."""

from pdesurrogate.plots import metrics_csv_curves, training_curves_figure


def test_each_parameter_groups_learning_rate_is_its_own_line(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train/loss,train/lr_0_0,train/lr_0_1\n"
                    "0,0,0.5,0.01,0.001\n0,1,0.25,0.005,0.0005\n")
    _, lr = training_curves_figure(path).axes
    assert sorted(line.get_label() for line in lr.lines) == ["train/lr_0_0", "train/lr_0_1"]
    rates = {line.get_label(): list(line.get_ydata()) for line in lr.lines}
    assert rates == {"train/lr_0_0": [0.01, 0.005], "train/lr_0_1": [0.001, 0.0005]}
    assert lr.get_legend() is not None  # two lines: which is which


def test_a_csv_with_only_a_learning_rate_is_drawn(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train/lr\n0,0,0.01\n0,1,0.005\n")
    losses, lr = training_curves_figure(path).axes
    assert not losses.lines
    assert [list(line.get_xdata()) for line in lr.lines] == [[0, 1]]


def test_step_and_epoch_are_not_curves(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train/loss,val/rel_l2\n0,0,0.5,\n0,0,,0.75\n1,3,0.25,\n")
    assert metrics_csv_curves(path) == {"train/loss": ([0, 3], [0.5, 0.25]),
                                        "val/rel_l2": ([0], [0.75])}
