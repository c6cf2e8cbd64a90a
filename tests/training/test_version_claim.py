"""The default loggers of fit claim their version_N folder: fits started together under one
default_root_dir (a Slurm job array) each get their own, and csv/ and tensorboard/ agree."""

from pdesurrogate.training.version_claim import CSVLogger, TensorBoardLogger


def test_loggers_started_together_get_a_folder_each(tmp_path):
    # two fits' loggers resolving before either has written anything: Lightning's listing
    # gave both version_0 (one metrics.csv and checkpoints/ for the two runs)
    first, second = CSVLogger(tmp_path, name="csv"), CSVLogger(tmp_path, name="csv")
    assert (first.version, second.version) == (0, 1)
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == ["version_0", "version_1"]


def test_tensorboard_takes_the_csv_loggers_number(tmp_path):
    (tmp_path / "csv" / "version_0").mkdir(parents=True)  # someone else's run, csv only
    csv = CSVLogger(tmp_path, name="csv")
    tb = TensorBoardLogger(tmp_path, name="tensorboard", default_hp_metric=False)
    assert csv.version == 1
    assert tb.version == 1  # not version_0: csv/version_1 and tensorboard/version_1 are one run
    assert (tmp_path / "tensorboard" / "version_1").is_dir()


def test_a_given_version_is_kept(tmp_path):
    assert CSVLogger(tmp_path, name="csv", version=7).version == 7
    assert not (tmp_path / "csv").exists()
