"""The checks of a ``--ckpt_path`` before Lightning reads it: a local regular file, read
weights-only, written by the class and the model arguments the config builds; the Slurm
requeue checkpoint a fit without one resumes from; the error for weights that do not fit."""

from __future__ import annotations

import json
import os
import re
import sys
import warnings
from pathlib import Path


def _slurm_requeue_checkpoint(root: str | None) -> str | None:
    """The checkpoint a fit without ``--ckpt_path`` resumes from in a Slurm job: the newest
    ``hpc_ckpt_N.ckpt`` in the run folder ``root`` (Lightning writes one when Slurm signals a
    job before its time limit, then requeues it) where this job is such a requeue
    (``SLURM_RESTART_COUNT`` >= 1); None where the folder holds none, or outside Slurm.

    Lightning resumes from the newest one in the folder of any job, requeued or not, and
    without the checks ``--ckpt_path`` gets. In a folder that array tasks share, or one reused
    from an earlier run, that is another run's state: a sweep's trial trained on from another
    trial's weights and exited 0. So a job that is no requeue is refused, naming the file."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    with warnings.catch_warnings():
        # Lightning's own detect gives its advice (srun installed but not used) once, later
        warnings.simplefilter("ignore")
        if not SLURMEnvironment.detect():
            return None
    folder = os.path.expanduser(root) if root else os.getcwd()
    try:
        found = [(int(m[1]), name) for name in os.listdir(folder)
                 if (m := re.fullmatch(r"hpc_ckpt_(\d+)\.ckpt", name))]
    except OSError:
        return None  # no run folder yet: nothing to resume
    if not found:
        return None
    path = os.path.join(folder, max(found)[1])
    restarts = os.environ.get("SLURM_RESTART_COUNT", "").strip()
    if restarts.isdigit() and int(restarts) >= 1:
        return path
    raise ValueError(
        f"{path!r} is a Slurm requeue checkpoint, and this job "
        f"({os.environ.get('SLURM_JOB_ID', 'of unknown id')}) is no requeue "
        f"(SLURM_RESTART_COUNT {restarts or 'unset'}): Lightning would resume from it, though "
        "it may be another run's (array tasks sharing --trainer.default_root_dir, or an "
        "earlier run in the same folder). Give each run its own --trainer.default_root_dir, "
        "or resume from it on purpose with --ckpt_path")


# values of ckpt_path that Lightning takes for keywords, not files ("registry:NAME" too)
_CKPT_KEYWORDS = ("best", "last", "hpc", "registry")


def _checked_checkpoint(path: str) -> dict:
    """The checkpoint ``--ckpt_path`` names, read weights-only (no code in it runs). Refused,
    each with one ValueError line (FileNotFoundError if there is nothing at ``path``): a URL
    (Lightning would download it and unpickle it), one of Lightning's keywords, anything but
    a regular file, and a file :func:`~pdesurrogate.export_files.read_checkpoint` refuses."""
    from pdesurrogate.export_files import read_checkpoint
    from pdesurrogate.training.checkpoint_io import is_url

    path = os.fspath(path)
    if is_url(path):
        raise ValueError(f"--ckpt_path {path!r}: a URL; checkpoints are read from local files "
                         "only (Lightning would download it and unpickle it, which runs any "
                         "code in it): download it, then give its path")
    if path.lower() in _CKPT_KEYWORDS or path.lower().startswith("registry:"):
        raise ValueError(f"--ckpt_path {path!r}: give the checkpoint file's path (e.g. "
                         f".../checkpoints/last.ckpt; ./{path} for a file of that name); "
                         "Lightning's keywords best, last, hpc and registry are not taken")
    if os.path.exists(path) and not os.path.isdir(path) and not os.path.isfile(path):
        raise ValueError(f"--ckpt_path {path!r}: not a regular file (a checkpoint written by "
                         "pdesurrogate fit, e.g. .../checkpoints/last.ckpt)")
    return read_checkpoint(path)


def _saved_config_hint(ckpt: str, subcommand: str) -> str:
    """Which config to run ``subcommand`` with: the config.yaml the fit saved beside the
    checkpoint's ``checkpoints/`` folder, named if it is there; for the checkpoint of an
    online run (``OUT/checkpoint/model.ckpt``, whose config.yaml is an online config), the
    model section of that config."""
    from pdesurrogate.online.checkpoint import CHECKPOINT

    folder = Path(ckpt).parent
    saved = folder.parent / "config.yaml"
    if folder.name == CHECKPOINT and (folder / "manifest.json").exists():
        return (f"{subcommand} with a config whose model section is the online run's "
                f"({saved})")
    return (f"{subcommand} with the config that fit saved: --config {saved}" if saved.exists()
            else f"{subcommand} with the config the checkpoint was trained with (fit saves it "
            "as config.yaml next to its checkpoints/ folder)")


def _imported(path: str) -> object | None:
    """What the dotted ``path`` names in a module that is already imported (None if its
    module is not imported: nothing is imported here)."""
    module, _, name = path.rpartition(".")
    loaded = sys.modules.get(module)
    return getattr(loaded, name, None) if loaded is not None else None


def _check_checkpoint_class(checkpoint: dict, path: str, model, subcommand: str) -> None:
    """Refuse a checkpoint whose recorded LightningModule class (the ``_class_path`` of its
    ``hyper_parameters``, as LightningCLI records it) is not the one the config builds
    (``model``: the config's ``model`` entry). The checkpoint's class is never imported: it is
    the config's class by name, or by another name for it in a module already imported (a
    re-export: ``pdesurrogate.training.NextStepModule`` is
    ``pdesurrogate.training.next_step.NextStepModule``). A checkpoint that records no class
    passes."""
    hparams = checkpoint.get("hyper_parameters")
    recorded = hparams.get("_class_path") if isinstance(hparams, dict) else None
    built = model.get("class_path") if hasattr(model, "get") else None
    if not (isinstance(recorded, str) and isinstance(built, str)) or recorded == built:
        return
    cls = _imported(built)
    if cls is None or _imported(recorded) is not cls:
        raise ValueError(f"--ckpt_path {path!r} was written by a {recorded} (its "
                         f"hyper_parameters' _class_path), but the config builds a {built}; "
                         f"{_saved_config_hint(path, subcommand)}")


def _check_checkpoint_model(ckpt: dict, module, subcommand: str) -> None:
    """Refuse a ``--ckpt_path`` whose network was built with other arguments than the one the
    config builds (``ckpt["model_spec"]``: the checkpoint's recorded spec, None without one).
    Weights of the wrong shape fail to load anyway; this catches the arguments that hold no
    weights (a CAPE module's ``padding_mode`` or ``gate``, ...), with which the checkpoint's
    weights would load into another function and be trained or scored as if it were the
    same. A spec written before an argument existed counts with the value it was built with
    (:data:`~pdesurrogate.models.SPEC_DEFAULTS_BEFORE`)."""
    from pdesurrogate.models import complete_spec, own_classes, spec_differences

    saved, built = ckpt.get("model_spec"), getattr(module, "model_spec", None)
    if saved is None or not isinstance(built, dict):
        return
    path = ckpt.get("path")
    # a model of the user's own code: the config imported its class (class_path), and the
    # checkpoint's name for it is only looked up among those
    models = own_classes(module.model)
    try:
        trained = complete_spec(saved, "model_spec", models)
    except ValueError as err:
        raise ValueError(f"--ckpt_path {path!r}: its hyper_parameters' {err}") from None
    diffs = spec_differences(trained, complete_spec(built, "model", models))
    if diffs:
        listed = "; ".join(f"{where}: {a!r} in the checkpoint, {b!r} in the config"
                           for where, a, b in diffs)
        flags = " ".join(f"--model.init_args.model.{where} {_flag_value(a)}"
                         for where, a, _ in diffs)
        # an argument the checkpoint's spec lacks was added after an older pdesurrogate wrote
        # it; the config.yaml that fit saved lacks it too, so offering it would not help
        newer = [where for where, _, _ in diffs if not _spec_has(saved, where)]
        why = (f"; {', '.join(newer)}: added after an older pdesurrogate wrote the "
               "checkpoint, whose model was built as above (a config.yaml saved then lacks it "
               "and gets today's default)" if newer else "")
        rest = ("" if len(newer) == len(diffs)
                else f", or {_saved_config_hint(path, subcommand)}")
        raise ValueError(f"--ckpt_path {path!r} holds a model built with other arguments than "
                         f"the config's ({listed}); set them as the checkpoint has them "
                         f"(under model.init_args.model: {flags}){why}{rest}")


def _spec_has(spec, where: str) -> bool:
    """Whether the dotted path ``where`` (as ``init_args.cape.init_args.padding_mode``) is
    written in the model spec ``spec`` as the checkpoint holds it."""
    for key in where.split("."):
        if not isinstance(spec, dict) or key not in spec:
            return False
        spec = spec[key]
    return True


def _flag_value(value) -> str:
    """``value`` as typed after a command-line flag (a string bare, the rest as JSON)."""
    return value if isinstance(value, str) else json.dumps(value)


def _checkpoint_mismatch(err: RuntimeError, ckpt: str, subcommand: str) -> ValueError:
    """The error for a checkpoint whose weights do not fit the model the config builds; the
    usual cause is a fit run with ``--model.*`` overrides that the plain config lacks."""
    first = (str(err).strip().splitlines()[1:2] or [""])[0].strip()
    return ValueError(f"{ckpt!r} does not fit the model this config builds ({first} ...); "
                      f"{_saved_config_hint(ckpt, subcommand)}")
