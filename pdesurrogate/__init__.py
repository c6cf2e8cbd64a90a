"""pdesurrogate: numerical PDE solvers -> datasets or MPI streams -> neural surrogates.

    >>> import pdesurrogate
    >>> sur = pdesurrogate.load("runs/demo/model")        # config.json + model.safetensors
    >>> traj = sur.rollout(u0, params, steps=10)            # (B, 11, C, *grid)

Subpackages: ``solvers``, ``datasets``, ``streaming``, ``models``, ``training``, ``pinn``.
"""

__version__ = "0.1.0"

_LAZY = {"load": "pdesurrogate.export", "export_surrogate": "pdesurrogate.export",
         "Surrogate": "pdesurrogate.export"}


def __getattr__(name: str):
    # lazy: `import pdesurrogate` stays cheap; torch/neuralop load on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pdesurrogate' has no attribute {name!r}")


__all__ = ["load", "export_surrogate", "Surrogate", "__version__"]
