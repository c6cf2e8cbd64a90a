"""Paths of a parsed ``fit``/``test`` config settled before anything is built: ``~`` expanded,
the data file's path made absolute, and the config's loggers moved with the run's root."""

from __future__ import annotations

import os


def _settle_paths(run) -> None:
    """``~`` in the run folder and the data file's path, as a shell would (a YAML value is
    never expanded: ``~/runs`` was a folder named ``~`` here); the data file's path made
    absolute, since the config.yaml a fit saves is given again from other folders (``test
    --config RUN/config.yaml``), where a relative one named another file or none."""
    trainer = run.trainer
    if isinstance(trainer.default_root_dir, str):
        trainer.default_root_dir = os.path.expanduser(trainer.default_root_dir)
        _check_root_folder(trainer.default_root_dir)
    data = run.get("data")
    init = data.get("init_args") if data is not None and hasattr(data, "get") else None
    path = init.get("path") if init is not None and hasattr(init, "get") else None
    if isinstance(path, str) and path and "://" not in path:
        init.path = os.path.abspath(os.path.expanduser(path))


def _check_root_folder(root: str) -> None:
    """A ValueError naming ``--trainer.default_root_dir`` and ``root`` if ``root``, or the
    nearest of its parents that exists, is not a folder (a dataset file given there): the
    loggers' ``makedirs`` said only "Not a directory: 'good.nc/csv'"."""
    if "://" in root:
        return
    path = os.path.abspath(root)
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    if os.path.isdir(path):
        return
    what = "it" if path == os.path.abspath(root) else repr(path)
    raise ValueError(f"--trainer.default_root_dir {root!r}: {what} is not a folder; "
                     "expected the folder that holds the run folders (csv/version_N, "
                     "tensorboard/version_N), made if it does not exist")


# where fit and test log when neither the config nor the command line names default_root_dir
_DEFAULT_ROOT = "runs"


def _loggers_follow_root(run) -> None:
    """A logger in the config whose ``save_dir`` is the ``trainer.default_root_dir`` that the
    ``--config`` files name (``runs`` where they name none) logs under the run's root as
    parsed, command line included: the config.yaml a fit saved, given again with another
    ``--trainer.default_root_dir`` (``test`` into another folder, a fit re-run elsewhere),
    writes its run folder there. A logger with a ``save_dir`` of its own keeps it."""
    from jsonargparse import Namespace, get_loader

    trainer = run.trainer
    loggers = (trainer.logger if isinstance(trainer.logger, list)
               else [trainer.logger] if isinstance(trainer.logger, Namespace) else [])
    # Told apart by the saved file alone: the loggers the CLI adds (before_instantiate_classes,
    # after this call) are saved with save_dir written out, equal to the fit's
    # default_root_dir, and the command line replaces that root but not their save_dir. So the
    # root the files name, read again here, is what they followed. This also moves the loggers
    # of config.yaml files saved before (older ones name Lightning's own classes), needs no
    # marker or other form in the saved file, and a user's logger under default_root_dir moves
    # with it as the generated ones do.
    # the root in force in the file that named the loggers: a later file naming another root
    # (--config run/config.yaml --config root.yaml) moves them as the command line does
    named = followed = None
    for path in run.get("config") or []:
        # None: a YAML string given as --config, which jsonargparse keeps no text of
        loaded = get_loader("yaml")(path.read_text()) if path is not None else None
        section = loaded.get("trainer") if isinstance(loaded, dict) else None
        if isinstance(section, dict):
            named = section.get("default_root_dir", named)
            if "logger" in section:
                followed = (named,)
    old, new = (_folder_key(root or _DEFAULT_ROOT)
                for root in (followed[0] if followed else named, trainer.default_root_dir))
    if old == new:
        return
    for logger in loggers:
        init = logger.get("init_args")
        if isinstance(init, Namespace) and isinstance(init.get("save_dir"), str) \
                and _folder_key(init.save_dir) == old:
            init.save_dir = trainer.default_root_dir or _DEFAULT_ROOT


def _folder_key(path) -> str:
    """``path`` as one spelling of its folder: ``~`` expanded, absolute, no trailing ``/``."""
    return os.path.abspath(os.path.expanduser(str(path)))
