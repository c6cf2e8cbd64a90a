"""``pdesurrogate fit`` with a strategy whose ranks start through multiprocessing's spawn or
forkserver (``ddp_spawn``; the start methods of macOS, Windows and, by default, Python 3.14):
one line naming the strategy to use instead, before any rank starts or any run folder is made.
Before, each rank was handed a pickled Trainer, which holds the command's own LightningCLI
class, and the fit died in a traceback ending "Can't pickle local object"."""

import numpy as np
import pytest

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Burgers1D

from .test_cli_fit import CONFIG, tiny


@pytest.mark.parametrize("strategy, method", [
    (["ddp_spawn"], "spawn"),
    (["lightning.pytorch.strategies.DDPStrategy", "--trainer.strategy.start_method",
      "forkserver"], "forkserver"),
])
def test_spawned_ranks_are_refused_in_one_line(tmp_path, capsys, strategy, method):
    data = tmp_path / "burgers.nc"
    generate_dataset(Burgers1D(n_points=16, nu_range=(0.01, 0.1), ic="grf"), data, samples=4,
                     times=np.linspace(0, 1, 3), seed=0, workers=1)
    root = tmp_path / "runs"
    rc = main(["fit", "--config", CONFIG, *tiny(str(data), root), "--trainer.devices", "2",
               "--trainer.strategy", *strategy])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert (f"pdesurrogate fit: error: ValueError: the trainer's strategy starts its ranks with "
            f"multiprocessing's {method!r} start method (as ddp_spawn does), which fit cannot "
            "run: use --trainer.strategy ddp") in err, err
    assert "pickle" not in err and not root.exists()
