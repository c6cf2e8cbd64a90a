"""Argument checks and the parameter-as-channels helper shared by the models."""

from __future__ import annotations

import numbers
import warnings

import torch


def check_int(name: str, value, low: int) -> int:
    """``value`` (a Python or numpy integer, not a bool) as an int ``>= low``, else a
    ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def check_params(model, u: torch.Tensor, params: torch.Tensor | None) -> None:
    """Check ``u`` is ``(B, in_channels, *grid)`` with ``model.dim`` spatial axes and ``params``
    is ``(B, n_params)`` when the model uses parameters."""
    if u.ndim != model.dim + 2 or u.shape[1] != model.in_channels:
        raise ValueError(f"{type(model).__name__} expects u of shape (B, {model.in_channels}, "
                         f"*grid) with {model.dim} spatial axes, got {tuple(u.shape)}")
    if model.n_params:
        if params is None or params.shape != (u.shape[0], model.n_params):
            got = None if params is None else tuple(params.shape)
            raise ValueError(f"{type(model).__name__} expects params of shape "
                             f"({u.shape[0]}, {model.n_params}), got {got}")


def check_grid(model, grid) -> None:
    """Raise the ValueError that ``model``'s forward would raise for states on ``grid`` (the
    spatial sizes, ``(H, W)`` or ``(N,)``), through its ``check_grid`` method; a model without
    one is not checked. Lets a data module refuse a grid at set-up, before the model summary,
    the statistics pass and the first batch."""
    check = getattr(model, "check_grid", None)
    if callable(check):
        check(tuple(int(n) for n in grid))


def append_params(u: torch.Tensor, params: torch.Tensor | None, n_params: int) -> torch.Tensor:
    """``(B, C, *grid)`` -> ``(B, C + n_params, *grid)``: each parameter as a constant channel."""
    if n_params == 0:
        return u
    p = params.to(u.dtype).reshape(*params.shape, *(1,) * (u.ndim - 2))
    return torch.cat([u, p.expand(-1, -1, *u.shape[2:])], dim=1)


def warn_unresolved_modes(model, setting: str, limit: list[int], grid, excess: bool) -> None:
    """Warn once per ``model`` instance when ``excess``: its Fourier ``setting`` (e.g.
    ``"modes=40"``) asks for more modes than ``grid`` resolves (at most ``limit`` per axis), so
    the weights of the other modes take no part in the output and get no gradient."""
    # claimed in one step (dict.setdefault is atomic): a check, then a set, let two threads
    # on a shared model both find it unclaimed and both warn
    if not excess or model.__dict__.setdefault("_warned_modes", mine := object()) is not mine:
        return
    warnings.warn(f"{type(model).__name__}: {setting} asks for more Fourier modes than the grid "
                  f"{tuple(grid)} resolves (at most {limit} per axis); the weights of the other "
                  "modes are never used. Use fewer modes or a finer grid", stacklevel=2)
