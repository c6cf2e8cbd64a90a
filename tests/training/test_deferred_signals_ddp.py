"""Under DDP (2 CPU processes, gloo) a SIGUSR1 that reaches one rank runs its handler on every
rank at the same step: Lightning's Slurm handler saves a checkpoint, which all ranks write
together, so a rank that ran it alone waited in a collective the others never joined."""

import json
import os
import signal
import subprocess
import sys

import pytest

SCRIPT = '''
import json
import os
import signal
import sys

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch.utils.data import DataLoader, TensorDataset

from pdesurrogate.training.deferred_signals import DeferredSignals

OUT = sys.argv[1]


class Line(LightningModule):
    """A linear fit; rank 0 sends itself SIGUSR1 in the middle of training step 1."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        if self.global_step == 1 and self.global_rank == 0:
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


@pytest.mark.slow  # ~12 s on 2 cores: make test-all runs it
def test_a_signal_to_one_rank_runs_its_handler_on_every_rank_at_the_same_step(tmp_path):
    script = tmp_path / "fit_ddp.py"
    script.write_text(SCRIPT)
    # its own session, so that a hung run's second rank (Lightning's child) is killed too
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError("the DDP fit hung: " + err[-3000:]) from None
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    runs = [[json.loads(line) for line in (tmp_path / f"rank{r}.json").read_text().split()]
            for r in (0, 1)]
    # once on each rank, after step 1's optimiser step (when step 2 starts)
    assert runs == [[2], [2]], (runs, err[-3000:])
