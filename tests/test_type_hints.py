"""The annotations a user's type checker reads (the package ships ``py.typed``) say what runs.

Type checkers never run a module's ``__getattr__``: a lazily provided name (``pdesurrogate.load``,
``pdesurrogate.datasets.open_dataset``) is typed only through the module's ``TYPE_CHECKING``
imports; without them ``pdesurrogate.load(...)`` was ``Any`` to mypy and pyright. And a
surrogate's ``predict``/``rollout``/``iterate`` give numpy for numpy and a tensor for a tensor:
their overloads must say the same.
"""

import ast
import importlib
import inspect
import typing

import numpy as np
import pytest
import torch
from torch import nn

from pdesurrogate.pinn import PINNMLP, PINNSurrogate, Poisson
from pdesurrogate.surrogate import Surrogate


def _checker_imports(module) -> dict[str, tuple[str, str, str | None]]:
    """The names bound under the module's ``if ...TYPE_CHECKING:`` blocks: ``name -> (source
    module, imported name, alias as written)``."""
    tree = ast.parse(inspect.getsource(module))
    out = {}
    for node in tree.body:
        test = node.test if isinstance(node, ast.If) else None
        name = getattr(test, "attr", getattr(test, "id", None))
        if name != "TYPE_CHECKING":
            continue
        for imp in node.body:
            if isinstance(imp, ast.ImportFrom):
                src = importlib.util.resolve_name("." * imp.level + (imp.module or ""),
                                                  module.__name__)
                for a in imp.names:
                    out[a.asname or a.name] = (src, a.name, a.asname)
    return out


@pytest.mark.parametrize("module_name, extra", [
    ("pdesurrogate", "_SUBPACKAGES"),
    ("pdesurrogate.datasets", None),
    ("pdesurrogate.pinn", None),
])
def test_every_lazy_name_is_declared_for_type_checkers(module_name, extra):
    """Each name the module's __getattr__ provides is imported under TYPE_CHECKING, from where
    __getattr__ takes it (the same object at run time), in the ``X as X`` form that re-exports
    a name from a typed package (pyright treats a plain ``from .m import X`` in a py.typed
    package as private). Fails when a name is added to ``_LAZY`` and not declared."""
    module = importlib.import_module(module_name)
    lazy = set(module._LAZY) | set(getattr(module, extra) if extra else ())
    declared = _checker_imports(module)
    assert set(declared) == lazy
    for name, (src, imported, alias) in declared.items():
        assert alias == imported == name, f"{module_name}: write `{imported} as {imported}`"
        source = importlib.import_module(src)
        runtime = getattr(module, name)
        via_source = getattr(source, imported, None)
        if via_source is None:  # `from . import solvers`: the subpackage itself
            via_source = importlib.import_module(f"{src}.{imported}")
        assert runtime is via_source, (module_name, name)


class _Half(nn.Module):
    def forward(self, x, p=None):
        return 0.5 * x


def _surrogate() -> Surrogate:
    config = {"model": {"class": "Half", "init_args": {}}, "pde": "toy", "grid_shape": [8],
              "channel_names": ["u"], "param_names": [], "data_param_names": [], "k": 1,
              "dt": 0.1, "residual": False, "normalization": None}
    return Surrogate(_Half(), config)


def _pinn() -> PINNSurrogate:
    config = {"problem": {"name": "poisson", "dim": 3},
              "network": {"init_args": {"width": 8, "depth": 2}},
              "training": {"estimator": "full"}}
    return PINNSurrogate(PINNMLP(3, width=8, depth=2), Poisson(3), config)


def _input(hint, shape: tuple[int, ...]):
    # an overload taking torch.Tensor gets a tensor; the other (numpy's ArrayLike) an array
    if hint is torch.Tensor:
        return torch.rand(shape) - 0.5  # inside a PINN's unit ball
    return np.random.default_rng(0).uniform(-0.5, 0.5, shape).astype(np.float32)


@pytest.mark.parametrize("make, method, arg, shape", [
    (_surrogate, "predict", "u", (2, 1, 8)),
    (_surrogate, "rollout", "u0", (2, 1, 8)),
    (_surrogate, "iterate", "u0", (2, 1, 8)),
    (_pinn, "predict", "x", (4, 3)),
    (_pinn, "exact", "x", (4, 3)),
])
def test_overloads_say_what_comes_back(make, method, arg, shape):
    """Two overloads, tensor -> tensor and numpy -> numpy (iterate: iterators of them), and a
    call with each overload's input type returns its annotated type. Before, these methods
    were unannotated: a checker typed every result Any."""
    sur = make()
    overloads = typing.get_overloads(getattr(type(sur), method))
    assert len(overloads) == 2
    kinds = set()
    for ov in overloads:
        hints = typing.get_type_hints(ov)
        want = hints["return"]
        out = getattr(sur, method)(_input(hints[arg], shape))
        if typing.get_origin(want) is not None:  # Iterator[X]: each state is an X
            (want,) = typing.get_args(want)
            out = next(iter(out))
        assert isinstance(out, want), (method, hints[arg], type(out))
        kinds.add(want)
    assert kinds == {torch.Tensor, np.ndarray}


def test_load_is_typed_to_return_either_kind_of_export():
    # a PINN export loads as a PINNSurrogate (u at points), not a Surrogate: a checker that
    # read "-> Surrogate" flagged a user's correct PINNSurrogate code as wrong, and let
    # surrogate.rollout(...) on a PINN pass
    from pdesurrogate.loading import load

    returned = typing.get_type_hints(load)["return"]
    assert set(typing.get_args(returned)) == {Surrogate, PINNSurrogate}
