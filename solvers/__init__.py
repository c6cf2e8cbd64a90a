"""Batched, verified numerical PDE solvers (torch; CPU or CUDA) that generate training data.

    >>> from pdesurrogate.solvers import make_solver
    >>> solver = make_solver("burgers1d", n_points=256)
    >>> u0, params = solver.sample(8, seed=0)           # (8, 1, 256), {"nu": (8,)}
    >>> traj = solver.solve(u0, params, [0.0, 0.5, 1.0])  # (8, 3, 1, 256)

``SOLVERS`` is the one name -> class map; every class follows the contract of
:class:`~pdesurrogate.solvers.base.Solver`.

Adding a solver (say ``wave1d``): one file, ``solvers/wave.py``, with ``class Wave1D(Solver)``
(``advection.py`` is the shortest to copy). Set ``name``, ``channels``, ``channel_names`` and
``param_names`` (a PDE second order in time carries its velocity as a channel: ``u_tt = c^2
u_xx`` is the state ``[u, u_t]``); in the constructor, build ``self.grid`` and store every
argument as an attribute of the same name (``settings()`` reads them back into dataset files),
with parameter ranges named ``<param>_range`` (``c_range``: ``online`` draws parameters from
them when its config has no ``parameters:``). ``sample`` starts with ``self.check_sample_args(n,
dtype)`` and draws from ``seeded_generator(seed)``; ``advance`` calls ``self.check_inputs`` and
``self.check_duration``, returns a new tensor without writing into ``u`` and raises
:class:`SolverDivergedError` on a non-finite result (``self.check_finite``); ``solve`` comes
from the base class. Then import the class here and add it to ``SOLVERS`` and ``__all__``: that
is what makes ``generate --solver wave1d`` and a config's ``class_path: Wave1D`` find it
(``online`` takes any solver that is not ``steady``). Tests: its small size in ``SMALL`` of
``tests/solvers/test_contract.py`` and ``tests/test_devices.py``
(``test_every_solver_is_covered`` fails until then), its name in ``tests/test_cli.py``'s
registry test, and ``tests/solvers/test_wave.py`` against an exact solution or a convergence
order; a config in ``configs/data/``. A solver kept in a module of one's own needs no
registration: ``solver: {class_path: mymodule.Wave1D}`` in a ``generate`` or ``online`` config,
with ``mymodule`` importable.
"""

from .advection import Advection1D
from .base import Solver, SolverDivergedError
from .burgers import Burgers1D
from .darcy import Darcy2D
from .heat import Heat2D
from .ks import KS1D
from .navier_stokes import NavierStokes2D

SOLVERS: dict[str, type[Solver]] = {
    cls.name: cls for cls in (Advection1D, Burgers1D, KS1D, NavierStokes2D, Heat2D, Darcy2D)
}


# the class names too (exact spelling), as the CLI's --solver takes them
_BY_CLASS_NAME: dict[str, type[Solver]] = {cls.__name__: cls for cls in SOLVERS.values()}


def make_solver(name: str, **kwargs) -> Solver:
    """Build the solver registered as ``name`` (``"burgers1d"``), or whose class is named
    ``name`` (``"Burgers1D"``), with its constructor arguments ``kwargs``."""
    cls = (SOLVERS.get(name) or _BY_CLASS_NAME.get(name)) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown solver {name!r}; choose from {sorted(SOLVERS)}")
    return cls(**kwargs)


def solver_class_path(value):
    """``value`` (a ``solver`` as a config or ``--solver`` gives it: a name, a class path or
    ``{class_path, init_args}``) with a registry name (``burgers1d``) replaced by its class's
    import path (``pdesurrogate.solvers.burgers.Burgers1D``), which jsonargparse resolves;
    anything else is returned as given. The one translation of registry names for the
    commands that take a solver (``generate`` and ``online``)."""

    def path(name):
        cls = SOLVERS.get(name) if isinstance(name, str) else None
        return name if cls is None else f"{cls.__module__}.{cls.__qualname__}"

    if isinstance(value, dict) and "class_path" in value:
        return {**value, "class_path": path(value["class_path"])}
    return path(value)


__all__ = [
    "SOLVERS", "make_solver", "solver_class_path", "Solver", "SolverDivergedError",
    "Advection1D", "Burgers1D", "KS1D", "NavierStokes2D", "Heat2D", "Darcy2D",
]
