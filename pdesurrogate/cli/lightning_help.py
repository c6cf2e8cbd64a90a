"""The help texts of ``fit`` and ``test`` (LightningCLI's parsers): their descriptions, what they
print where, the ``--ckpt_path``/``--weights_only`` help, and what each says when given no
config."""

from __future__ import annotations

import argparse
import textwrap

from pdesurrogate.cli.conventions import EXIT_STATUS

# what fit and test say when given no arguments: test scores a fit's run, so it takes the
# config that fit saved there (the shipped one would build a model without the fit's overrides)
_NEEDS_CONFIG = {
    "fit": "pdesurrogate fit --config configs/fit/NAME.yaml (one per experiment in "
           "configs/fit/; pdesurrogate configs lists the shipped ones, --copy . writes them out), "
           "or --model and --data",
    "test": "pdesurrogate test --config RUN/config.yaml --ckpt_path RUN/checkpoints/last.ckpt, "
            "RUN being the run folder a fit names at its end (e.g. "
            "runs/fno_burgers/csv/version_0) and config.yaml the config it saved there",
}


def _raw_description():
    """jsonargparse's help formatter, keeping the description's line breaks (its examples)."""
    from jsonargparse import DefaultHelpFormatter

    class RawDescription(argparse.RawDescriptionHelpFormatter, DefaultHelpFormatter):
        pass

    return RawDescription


_CHECKPOINT_HELP = {
    "ckpt_path": "A checkpoint file (a local path, e.g. .../checkpoints/last.ckpt) to resume "
                 "from (fit) or to score (test); read weights-only. URLs and Lightning's "
                 "keywords (best, last, hpc, registry) are refused.",
    "weights_only": "Always true here: a checkpoint is read weights-only (false is refused: "
                    "it would unpickle, and run, whatever the file holds).",
}


_LIGHTNING_HELP = {
    "fit": """\
Train a LightningModule on a LightningDataModule from a YAML config (one per experiment in
configs/fit/; `pdesurrogate configs --copy .` writes the shipped ones there), e.g.

  pdesurrogate fit --config configs/fit/fno_burgers.yaml
  pdesurrogate fit --config configs/fit/fno_burgers.yaml --trainer.max_epochs 5 \\
      --model.init_args.lr 3e-4 --trainer.devices 2 --trainer.strategy ddp

Every constructor argument can be set in the file or overridden as --trainer.*,
--model.init_args.*, --data.init_args.*; an unknown key is an error naming it.
CSV logs (metrics.csv, drawn as curves.png at the end), the config as run and checkpoints
(last.ckpt) go to <default_root_dir>/csv/version_N/ (printed at the end),
TensorBoard logs to <default_root_dir>/tensorboard/version_N/; resume with --ckpt_path
.../last.ckpt. In a log file (Slurm, | tee) progress is a plain line every 30 s, not a bar.
Under Slurm (e.g. slurm/train.sbatch, in a checkout of the repository), SIGUSR1 before the
time limit writes a checkpoint and requeues the job, which resumes from it. SIGTERM writes
last.ckpt where the fit stopped and exits 143, naming it; a resumed fit continues exactly.
Weights that turn NaN or inf stop the fit (exit 2) before any checkpoint holds them.
Then: pdesurrogate export .../last.ckpt OUTDIR; pdesurrogate test (see its --help).""",
    "test": """\
Score a checkpoint on the test split of its data, e.g.

  pdesurrogate test --config runs/fno_burgers/csv/version_0/config.yaml \\
      --ckpt_path runs/fno_burgers/csv/version_0/checkpoints/last.ckpt

Use the config.yaml that fit saved beside the checkpoint: it holds the fit's overrides,
and the plain config would build another model. Metrics are printed and logged (test/*)
in a new csv/version_N under the fit's default_root_dir, or under the folder given as
--trainer.default_root_dir (a logger with a save_dir of its own keeps it).""",
}


# where fit's and test's output goes, for a script that reads it
_LIGHTNING_STREAMS = {
    "fit": "stdout: the progress (a bar on a terminal, else plain lines) and Lightning's model "
           "summary; stderr: warnings, errors and the last line, 'fit: run folder DIR; "
           "checkpoint CKPT' (or '; no checkpoint written'); a fit that fails after it "
           "trained names its run folder and the checkpoint to resume from below its error.",
    "test": "stdout: Lightning's table of the test metrics; stderr: warnings, errors and the "
            "last line, 'test: run folder DIR' (a new version_N each time: its metrics.csv "
            "holds the metrics).",
}


def _lightning_description(subcommand: str) -> str:
    """``subcommand``'s --help text: its description, then its streams and exit statuses
    (wrapped here: the help keeps the description's line breaks)."""
    return "\n\n".join([_LIGHTNING_HELP[subcommand],
                         textwrap.fill(_LIGHTNING_STREAMS[subcommand], 88),
                         textwrap.fill(EXIT_STATUS, 88)])
