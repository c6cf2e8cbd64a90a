"""A ``--solver`` that replaces the config's solver with another class
(:func:`check_solver_change`): the config's solver settings that the new class also takes go
over to it (jsonargparse's rule, as in ``pdesurrogate generate``), said in one warning, and one
that the new class refuses is refused before anything starts, naming it and the solver it was
written for."""

from __future__ import annotations

from pdesurrogate.online.errors import UsageError


def check_solver_change(argv: list[str], init_args) -> str | None:
    """The warning to show when ``argv`` (online's options, in order) changed the solver's
    class while keeping init_args given for the earlier class; ``None`` when it did not.

    ``init_args``: the parsed ``solver.init_args``. Raises :class:`UsageError` naming the first
    kept init_arg that the new class refuses on its own (its constructor raises), e.g. a
    Navier-Stokes config's ``forcing: fno`` kept by ``--solver heat2d``."""
    from pdesurrogate.cli.solver_class_change import solver_class_change

    change = solver_class_change(argv)
    if change is None:
        return None
    old, new = change.old.__name__, change.new.__name__
    kept = {k: init_args[k] for k in change.kept if k in init_args}
    for key, value in kept.items():
        try:
            change.new(**{key: value})
        except (TypeError, ValueError) as e:
            raise UsageError(
                f"{change.where}: solver.init_args.{key}={value!r} is a setting of the "
                f"solver {old} (from {change.kept[key]}), kept for {new} because {new} also "
                f"takes {key}, and {new} refuses it ({e}); give {new}'s own as "
                f"--solver.init_args.{key} VALUE after --solver, or start from a config of "
                f"{new} (pdesurrogate configs lists them)") from None
    dropped = f"; {old}'s {', '.join(change.dropped)} were dropped" if change.dropped else ""
    settings = ", ".join(f"{k}={v!r}" for k, v in kept.items())
    return (f"{change.where} replaced the solver {old} with {new}, and kept the settings "
            f"written for {old} that {new} also takes: {settings}{dropped}; give {new}'s own "
            f"as --solver.init_args.NAME VALUE after --solver if they are not meant for it")
