"""A ``--solver`` (or a later ``--config``) of another class than the one before it:
which init_args given for the earlier class jsonargparse carries over to the new one
(:func:`solver_class_change`), and the warning that lists them. ``generate`` warns with it;
``online`` checks them (:mod:`pdesurrogate.online.solver_change`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NamedTuple

from pdesurrogate.yaml_aliases import check_yaml_aliases


def _solver_class(value) -> type | None:
    """The class a ``solver`` value names: a registry name (``ks1d``), a solver's class name
    (``KS1D``) or an import path; None for anything else (jsonargparse reports it)."""
    import importlib

    from pdesurrogate.solvers import SOLVERS

    if not isinstance(value, str):
        return None
    by_name = {**{c.__name__: c for c in SOLVERS.values()}, **SOLVERS}
    if value in by_name:
        return by_name[value]
    module, _, name = value.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name, None) if module else None
    except Exception:  # whatever fails to import, jsonargparse reports
        return None
    return found if isinstance(found, type) else None


def _takes(cls: type, name: str) -> bool:
    """Whether ``cls``'s constructor takes an argument ``name``."""
    import inspect

    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # no signature to read: jsonargparse decides
        return True
    return any(p.name == name and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               or p.kind is p.VAR_KEYWORD for p in params)


def _yaml_value(text: str):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # jsonargparse reports it


class SolverChange(NamedTuple):
    """A ``--solver`` (or a later ``--config``) that changed the solver's class while init_args
    given for the class before it were kept, as jsonargparse keeps them."""

    old: type  # the class before the change
    new: type  # the class after it
    where: str  # the option that changed the class
    kept: dict[str, str]  # init_arg given for an earlier class -> where it was given
    dropped: list[str]  # init_args given earlier that ``new`` does not take


def solver_class_change(argv: Sequence[str]) -> SolverChange | None:
    """The last change of the solver's class in ``argv`` (generate's options, in order), if
    init_args given for an earlier class went over to the new one; else None. jsonargparse
    keeps, when a later ``--solver``, ``--solver.class_path`` or ``--config`` names another
    class, the init_args given so far that the new class also takes (its maintainers' rule:
    only what is given changes), and drops the rest; a name they share may mean something
    else there (Burgers1D's ``length: 1.0`` is not KS1D's 64). Defaults are not carried, nor
    is an init_arg given again after the change."""
    given: dict[str, tuple[str, type | None]] = {}  # init_arg -> where, for which class
    cls: type | None = None
    change: tuple[type, type, str, list[str]] | None = None

    def solver(value, where: str) -> None:
        nonlocal cls, change
        if isinstance(value, dict):
            new = _solver_class(value.get("class_path")) if "class_path" in value else cls
            args = value.get("init_args")
        else:
            new, args = _solver_class(value), None
        if new is not None and cls is not None and new is not cls:
            dropped = [k for k in given if not _takes(new, k)]
            for k in dropped:
                del given[k]
            change = (cls, new, where, dropped)
        cls = new if new is not None else cls
        for k in args if isinstance(args, dict) else ():
            given[k] = (where, cls)

    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name not in ("--config", "--solver") and not name.startswith("--solver."):
            continue  # another option, or a value (flags such as --overwrite take none)
        if not eq:
            if i + 1 == len(argv):
                continue  # jsonargparse reports the missing value
            value = argv[i + 1]
        if name == "--config":
            text, where = value, "a --config value"
            if os.path.isfile(value):
                where = f"config {value!r}"
                try:
                    with open(value, encoding="utf-8") as f:
                        text = f.read()
                except OSError:
                    continue  # jsonargparse reports it
            check_yaml_aliases(text, where)
            cfg = _yaml_value(text)
            if isinstance(cfg, dict) and "solver" in cfg:
                solver(cfg["solver"], where)
        elif name == "--solver":
            solver(_yaml_value(value), f"--solver {value}")
        elif name == "--solver.class_path":
            solver({"class_path": value}, f"--solver.class_path {value}")
        elif name == "--solver.init_args":
            solver({"init_args": _yaml_value(value)}, name)
        elif name.startswith("--solver.") and name != "--solver.help":
            key = name.removeprefix("--solver.").removeprefix("init_args.").split(".")[0]
            given[key] = (name, cls)
    kept = {k: w for k, (w, c) in given.items() if c is not cls}
    if change is None or not kept:
        return None
    old, new, where, dropped = change
    return SolverChange(old, new, where, kept, dropped)


def _warn_solver_change(change: SolverChange, init_args) -> None:
    """Say which init_args ``change`` carried to the new solver, with their values."""
    kept = ", ".join(f"{k}={init_args[k]!r}" for k in change.kept if k in init_args)
    sources = sorted(set(change.kept.values()))
    dropped = (f"; the others were dropped ({', '.join(change.dropped)})"
               if change.dropped else "")
    old, new = change.old.__name__, change.new.__name__
    print(f"pdesurrogate generate: warning: {change.where} replaced the solver {old} with "
          f"{new}, and the init_args given before it that {new} also takes went over to it "
          f"(jsonargparse keeps them): {kept} (from {', '.join(sources)}){dropped}. If they "
          f"are not meant for {new}, give its own as --solver.init_args.NAME VALUE after "
          f"--solver, or start from a config of {new} (pdesurrogate configs lists them).",
          file=sys.stderr)
