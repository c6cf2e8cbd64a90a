"""An ``EarlyStopping`` or ``ModelCheckpoint`` whose ``monitor`` names a ``train/`` metric that
is never logged (``train/lossx``) is refused as the fit sets up, naming it and the names the
module logs. Before, only ``val...`` monitors were checked early, and a misspelled training
monitor failed at the end of the first epoch."""

from types import SimpleNamespace

import pytest
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from pdesurrogate.training.fit_checks import check_training_monitors
from pdesurrogate.training.step_logs import LearningRateLog

from .test_validation_monitors import _fit, _trainer


def test_a_misspelled_training_monitor_is_refused_before_training(tmp_path):
    for kind, monitor in ((ModelCheckpoint, "train/lossx"), (EarlyStopping, "train/los")):
        trainer = _trainer(tmp_path, [kind(monitor=monitor)])
        expected = (rf"trainer\.callbacks: {kind.__name__}\(monitor='{monitor}'\) watches a "
                    r"training metric that is never logged \(NextStepModule logs train/loss, "
                    r"train/rel_l2\)")
        with pytest.raises(ValueError, match=expected):
            _fit(trainer, tmp_path)
        # refused as the module sets up: no step taken, no checkpoint written
        assert (trainer.global_step, list(tmp_path.rglob("*.ckpt"))) == (0, [])


@pytest.mark.parametrize("callbacks", [
    [ModelCheckpoint(monitor="train/loss")],
    [EarlyStopping(monitor="train/rel_l2")],
    [LearningRateLog(), ModelCheckpoint(monitor="train/lr")],
    [EarlyStopping(monitor="train/los", strict=False)],  # Lightning warns and goes on
], ids=["loss", "rel_l2", "lr-of-LearningRateLog", "not-strict"])
def test_logged_training_monitors_train(tmp_path, callbacks):
    trainer = _trainer(tmp_path, callbacks)
    _fit(trainer, tmp_path)
    assert trainer.global_step > 0


def _trainer_with(*callbacks):
    return SimpleNamespace(callbacks=list(callbacks))


def test_the_names_given_are_the_ones_taken():
    refiner = ["train/loss", "train/mse", "train/mse_step0", "train/mse_noise"]
    check_training_monitors(_trainer_with(ModelCheckpoint(monitor="train/mse_noise")),
                            "RefinerModule", refiner)
    with pytest.raises(ValueError, match=r"\(RefinerModule logs train/loss, train/mse, "
                                         r"train/mse_step0, train/mse_noise\)"):
        check_training_monitors(_trainer_with(ModelCheckpoint(monitor="train/rel_l2")),
                                "RefinerModule", refiner)
    # LearningRateLog's per-group names, and only with it
    check_training_monitors(_trainer_with(LearningRateLog(), ModelCheckpoint(
        monitor="train/lr_0_1")), "M", ["train/loss"])
    with pytest.raises(ValueError, match=r"monitor='train/lr'"):
        check_training_monitors(_trainer_with(ModelCheckpoint(monitor="train/lr")), "M",
                                ["train/loss"])


def test_a_module_that_does_not_say_or_a_callback_of_its_own_is_not_checked():
    class Own(SimpleNamespace):  # a callback of other code than Lightning's or this package's
        pass

    check_training_monitors(_trainer_with(ModelCheckpoint(monitor="train/x")), "M", None)
    check_training_monitors(_trainer_with(Own(), ModelCheckpoint(monitor="train/x")), "M",
                            ["train/loss"])
