"""Under DDP (2 CPU processes, gloo) a SIGUSR1 that reaches one rank runs its handler on every
rank at the same step: Lightning's Slurm handler saves a checkpoint, which all ranks write
together, so a rank that ran it alone waited in a collective the others never joined. The ranks
agree on it one batch later (in the background), or at the epoch's end."""

import json

import pytest

from .ddp_script import run_ranks

SCRIPT = '''
import json
import os
import signal
import sys

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch.utils.data import DataLoader, TensorDataset

from pdesurrogate.training.deferred_signals import DeferredSignals

OUT, STEP = sys.argv[1], int(sys.argv[2])


class Line(LightningModule):
    """A linear fit; rank 0 sends itself SIGUSR1 in the middle of training step STEP."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        if self.global_step == STEP and self.global_rank == 0:
            os.kill(os.getpid(), signal.SIGUSR1)
        x, y = batch
        return torch.nn.functional.mse_loss(self.lin(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Handler(Callback):
    """Installs a SIGUSR1 handler that, like Lightning's Slurm one, needs every rank (a
    barrier) and records the step it ran at."""

    def on_train_start(self, trainer, module):
        def handler(signum, frame):
            trainer.strategy.barrier()
            with open(os.path.join(OUT, f"rank{trainer.global_rank}.json"), "a") as f:
                f.write(json.dumps(trainer.global_step) + "\\n")

        signal.signal(signal.SIGUSR1, handler)


if __name__ == "__main__":
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(48, 4), torch.randn(48, 1))
    Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            callbacks=[Handler(), DeferredSignals()]).fit(Line(), DataLoader(data, batch_size=4))
'''


@pytest.mark.slow  # ~12 s each on 2 cores: make test-all runs it
# 48 samples, 6 batches of 4 a rank: step 1 mid-epoch; step 3, whose agreement (when step 4
# starts) is still in flight at the epoch's end (step 5, the last, starts without one)
@pytest.mark.parametrize(("step", "handled"), [(1, 3), (3, 6)])
def test_a_signal_to_one_rank_runs_its_handler_on_every_rank_at_the_same_step(tmp_path, step,
                                                                           handled):
    code, out, err = run_ranks(SCRIPT, tmp_path, step)
    assert code == 0, out[-3000:] + err[-3000:]
    runs = [[json.loads(line) for line in (tmp_path / f"rank{r}.json").read_text().split()]
            for r in (0, 1)]
    # once on each rank: when step + 2 starts (the agreement of step + 1's start, read a batch
    # later), or at the end of the epoch (global step 6), which agrees at once; before, with a
    # blocking agreement at each batch's start, when step + 1 started
    assert runs == [[handled], [handled]], (runs, err[-3000:])
