"""LearningRateLog (d31627b): what the mutation audit found unpinned by test_fit_logs.py and
test_step_logs.py. The rate is logged on an epoch's first and last batch as well as on
Lightning's logging steps, step-level only, one name per parameter group when there are
several. A stand-in trainer and module; no training, milliseconds."""

from types import SimpleNamespace

import torch

from pdesurrogate.training.step_logs import LearningRateLog


class _Recorder:
    """Stands in for the LightningModule: records each ``log`` call."""

    def __init__(self):
        self.calls = []

    def log(self, name, value, **kwargs):
        self.calls.append((name, value, kwargs))


def _logged(optimizers, batch_idx, global_step, n=5, batches=10):
    """What LearningRateLog logs for one batch: rates read at its start, logged at its end."""
    trainer = SimpleNamespace(optimizers=optimizers, log_every_n_steps=n,
                              num_training_batches=batches, global_step=global_step)
    module, cb = _Recorder(), LearningRateLog()
    cb.on_train_batch_start(trainer, module, None, batch_idx)
    cb.on_train_batch_end(trainer, module, None, None, batch_idx)
    return module.calls


def _sgd(*lrs):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups)


def test_the_first_and_last_batch_and_the_logging_steps_log_the_rate():
    """log_every_n_steps 5, 10 batches an epoch: batch 0 (global step 1 after it), batch 9
    (step 10, also a logging step), batch 4 (step 5) log; batches 2 (step 3) and 8 (step 9)
    do not. Each as a step value only, batch size 1."""
    opt = [_sgd(0.25)]
    assert _logged(opt, 0, 1) == [("train/lr", 0.25, {"on_step": True, "on_epoch": False,
                                                       "batch_size": 1})]
    assert [c[0] for c in _logged(opt, 9, 19)] == ["train/lr"]  # last batch, off the period
    assert [c[0] for c in _logged(opt, 4, 5)] == ["train/lr"]
    assert _logged(opt, 2, 3) == [] and _logged(opt, 8, 9) == []


def test_several_parameter_groups_each_get_a_name():
    """Optimiser 0 with two groups, optimiser 1 with one: train/lr_{optimiser}_{group}."""
    calls = _logged([_sgd(0.1, 0.2), _sgd(0.3)], 0, 1)
    assert [(name, lr) for name, lr, _ in calls] == [
        ("train/lr_0_0", 0.1), ("train/lr_0_1", 0.2), ("train/lr_1_0", 0.3)]

