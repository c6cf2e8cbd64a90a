"""Under DDP (2 CPU processes, gloo) StopCheckpoint agrees on a SIGTERM in the background and
stops every rank one batch after the one it arrived in; where the epoch ends before that
agreement is read (a stop requested as the batch ends, as early stopping does), the end of the
epoch reads it: the signal is never dropped, and the fit does not end as if finished."""

import json

import pytest
import torch

from .ddp_script import run_ranks

SCRIPT = '''
import json
import os
import signal
import sys

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from pdesurrogate.training.stop_checkpoint import StopCheckpoint

OUT, TERM_AT, STOP_AT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
VAL = len(sys.argv) > 4  # a validation pass at the epoch's end


class Line(LightningModule):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.lin(x), y)

    def validation_step(self, batch, batch_idx):
        self.trainer.callbacks[1].steps.append("val")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class TermAt(Callback):
    """SIGTERM to rank 1 as training step TERM_AT starts; both ranks asked to stop (as early
    stopping does) as step STOP_AT ends (-1: never); each rank records how its fit ended."""

    def __init__(self):
        self.steps = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.steps.append(trainer.global_step)
        if trainer.global_step == TERM_AT and trainer.global_rank == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step == STOP_AT + 1:
            trainer.should_stop = True

    def _write(self, trainer, ended):
        with open(os.path.join(OUT, f"rank{trainer.global_rank}.json"), "w") as f:
            json.dump({"ended": ended, "steps": self.steps}, f)

    def on_exception(self, trainer, module, exception):
        self._write(trainer, type(exception).__name__)

    def on_train_end(self, trainer, module):
        self._write(trainer, "finished")


if __name__ == "__main__":
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(48, 4), torch.randn(48, 1))
    Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, logger=False,
            num_sanity_val_steps=0, enable_progress_bar=False, enable_model_summary=False,
            callbacks=[StopCheckpoint(), TermAt(), ModelCheckpoint(dirpath=OUT, save_last=True)],
            ).fit(Line(), DataLoader(data, batch_size=4),
                  DataLoader(data, batch_size=4) if VAL else None)
'''


@pytest.mark.slow  # ~12 s each on 2 cores: make test-all runs it
# 48 samples, 6 batches of 4 a rank; SIGTERM to rank 1 as step 1 starts, agreed when step 2
# ends; or as step 2 starts, with a stop requested as step 2 ends: the epoch ends before the
# next batch, whose end would have read the agreement
@pytest.mark.parametrize(("term_at", "stop_at"), [(1, -1), (2, 2)])
def test_sigterm_to_one_rank_stops_both_one_batch_later_or_at_the_epochs_end(tmp_path, term_at,
                                                                             stop_at):
    _, _, err = run_ranks(SCRIPT, tmp_path, term_at, stop_at)  # its exit code: see `ended`
    ended = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    # both stopped by SIGTERM (Lightning's SIGTERMException), after steps 0-2: before, with a
    # blocking agreement at each batch's end, after the step SIGTERM arrived in
    assert ended == [{"ended": "SIGTERMException", "steps": [0, 1, 2]}] * 2, (ended, err[-3000:])
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["global_step"] == 3


@pytest.mark.slow  # ~12 s on 2 cores: make test-all runs it
def test_sigterm_in_an_epochs_last_batch_stops_in_its_first_validation_batch(tmp_path):
    """SIGTERM to rank 1 as the epoch's last training batch (step 5) starts: the end of that
    batch, which ends the epoch's training, agrees at once, so Lightning stops both ranks
    after the first batch of the epoch's validation pass (its evaluation loop checks the flag
    between batches); read a batch later, the agreement would come only at the end of that
    pass, after all 6 of its batches."""
    _, _, err = run_ranks(SCRIPT, tmp_path, 5, -1, "val")
    ended = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ended == [{"ended": "SIGTERMException", "steps": [*range(6), "val"]}] * 2, (
        ended, err[-3000:])
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["global_step"] == 6
