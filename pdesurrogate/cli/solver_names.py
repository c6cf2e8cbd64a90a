"""A solver's registry name (``burgers1d``) where a class path is expected: on ``generate``'s and
``online``'s command lines (``--solver``, ``--solver.class_path``, ``--solver.help``) and in a
``--config`` file, replaced by its class path before jsonargparse parses them."""

from __future__ import annotations

from collections.abc import Sequence

from pdesurrogate.yaml_aliases import check_yaml_aliases


def _solver_classes() -> dict[str, str]:
    """Registry name -> class name of every solver (``burgers1d`` -> ``Burgers1D``)."""
    from pdesurrogate.solvers import SOLVERS

    return {name: cls.__name__ for name, cls in SOLVERS.items()}


def _solver_choices() -> str:
    return ", ".join(f"{name} ({cls})" for name, cls in _solver_classes().items())


_SOLVER_OPTIONS = ("--solver", "--solver.class_path", "--solver.help")


def _solver_option_value(value: str) -> str:
    """A ``--solver`` value with a registry name translated: a name (``burgers1d``), or the
    same as a YAML mapping (``{class_path: burgers1d, init_args: {...}}``)."""
    import yaml

    from pdesurrogate.solvers import solver_class_path

    if not value.lstrip().startswith("{"):
        return solver_class_path(value)
    try:
        given = yaml.safe_load(value)
    except yaml.YAMLError:
        return value  # jsonargparse reports it
    path = solver_class_path(given)
    if path == given:
        return value
    return yaml.safe_dump(path, default_flow_style=True, sort_keys=False).strip()


def _solver_names_to_class_paths(argv: Sequence[str], configs: bool = True) -> list[str]:
    """``argv`` with a solver's registry name (``burgers1d``) given to ``--solver`` (alone or
    as a mapping's ``class_path``), ``--solver.class_path`` or ``--solver.help``, or
    (``configs``) as ``solver`` / ``solver.class_path`` in a ``--config`` file, replaced by its
    class path (:func:`pdesurrogate.solvers.solver_class_path`). A config that needs it is
    passed on as YAML text."""
    import yaml

    from pdesurrogate.solvers import solver_class_path

    out = list(argv)
    for i, arg in enumerate(out):
        name, eq, value = arg.partition("=")
        if name in _SOLVER_OPTIONS and eq:
            out[i] = f"{name}={_solver_option_value(value)}"
        elif arg in _SOLVER_OPTIONS and i + 1 < len(out):
            out[i + 1] = _solver_option_value(out[i + 1])
        elif configs and name == "--config" and (eq or i + 1 < len(out)):
            path = value if eq else out[i + 1]
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                check_yaml_aliases(text, f"config {path!r}")
                cfg = yaml.safe_load(text)
            except (OSError, yaml.YAMLError):
                continue  # jsonargparse reports it (given the path, it names the file)
            if not isinstance(cfg, dict) or "solver" not in cfg:
                continue
            solver = solver_class_path(cfg["solver"])
            if solver == cfg["solver"]:
                continue
            text = yaml.safe_dump({**cfg, "solver": solver}, sort_keys=False)
            out[i:i + 1 + (not eq)] = [f"--config={text}"] if eq else ["--config", text]
    return out
