"""Export a trained PINN and load it back as :class:`PINNSurrogate` (u at points), no pickles.

Layout (the same two files as every surrogate; ``pdesurrogate.load`` dispatches on ``kind``)::

    config.json        format_version, format_revision, pdesurrogate_version, kind = "pinn",
                       network ({"class": "pinn_mlp", "init_args": {...}}),
                       problem ({"name", "dim", "seed"}),
                       training ({"estimator", "variant", "boundary"}: how it was trained),
                       provenance, metrics, versions
    model.safetensors  "net.*" (the MLP's weights) and "problem.c" (the solution's coefficients)

``provenance`` is a field surrogate's (:mod:`pdesurrogate.export`) without ``data_source`` (a
PINN samples its own points; the problem is in ``problem``): ``checkpoint``, ``epoch``,
``global_step``, ``seed_everything`` (null unless the module recorded one), ``git_commit``,
``git_dirty`` and ``recipe``, built and checked by the same functions. Exports older than it
load without it. Its ``recipe.hparams`` are the PINNModule's other settings (``lr``,
``scheduler``, ``boundary_weight``, ``seed``: the SDGD draws', ``full_chunk``,
``fit_output_bias``; the estimator, e.g. SDGD's ``dim_batch``, and ``variant`` are in
``training``), and its ``batch_size`` the points per batch (``BallPoints``' ``batch_size``,
known when exported from the module after a fit: a checkpoint does not record it).
``metrics`` (its last ``val/rel_l2``) and ``versions`` are a field surrogate's too, and so is
the rule for keys this pdesurrogate does not know: at the top level or inside ``provenance`` or
``metrics`` of an export a newer one wrote (a later ``format_revision``, absent before
revision 2, or ``pdesurrogate_version``), ignored with one
:class:`~pdesurrogate.export_checks.NewerExportWarning`; anywhere else, or in an export of this
version or an older one, an error.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import overload

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from pdesurrogate import fit_metrics
from pdesurrogate.export_checks import (
    FORMAT_REVISION,
    _check_format,
    _without_newer_keys,
)
from pdesurrogate.export_files import (
    CONFIG_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    check_config_keys,
    check_header,
    check_target,
    check_tensors,
    check_versions,
    library_versions,
    materialise,
    package_version,
    read_checkpoint,
    read_config,
    read_weights,
    write_export,
)
from pdesurrogate.meta_build import meta_build
from pdesurrogate.provenance import (
    OPTIONAL_RUN_PROVENANCE_KEYS,
    RUN_PROVENANCE_KEYS,
    check_provenance,
    provenance,
    recipe_of_checkpoint,
    recipe_of_module,
    run_of_checkpoint,
    run_of_module,
)

from .mlp import PINNMLP
from .problems import build_problem

KIND = "pinn"
NETWORK_CLASS = "pinn_mlp"
CONFIG_KEYS = ("format_version", "pdesurrogate_version", "kind", "network", "problem",
               "training")
# keys a current export writes but an older one lacks
OPTIONAL_KEYS = ("provenance", "metrics", "versions", "format_revision")
NETWORK_ARGS = ("dim", "width", "depth", "activation", "hard_boundary")
#: the ``provenance`` keys a PINN export may have, for the rule on a newer writer's keys
PINN_PROVENANCE_KEYS = (*RUN_PROVENANCE_KEYS, *OPTIONAL_RUN_PROVENANCE_KEYS)
# the PINNModule's hyper-parameters config.json records elsewhere (network, problem,
# training), left out of provenance.recipe
RECORDED = ("problem", "estimator", "problem_spec", "estimator_spec", "width", "depth",
            "activation", "variant", "boundary")
# points per evaluation chunk are chosen so a chunk holds about this many coordinates
_CHUNK_ELEMENTS = 1 << 22
# |x| up to 1 + this counts as inside the ball (float32 rounding of points on the sphere)
_BALL_TOL = 1e-5


def is_pinn_hparams(hp) -> bool:
    return isinstance(hp, dict) and "problem_spec" in hp and "estimator_spec" in hp


def is_pinn_source(source) -> bool:
    """True for a :class:`~pdesurrogate.pinn.module.PINNModule` or the path of a checkpoint
    one wrote."""
    from .module import PINNModule

    if isinstance(source, PINNModule):
        return True
    if not isinstance(source, (str, os.PathLike)) or not os.path.isfile(source):
        return False
    try:
        ckpt = read_checkpoint(Path(source))
    except ValueError:
        return False  # not ours: the general exporter reports what is wrong with it
    return is_pinn_hparams(ckpt.get("hyper_parameters"))


def network_of_hparams(hp: dict) -> dict:
    """config.json's ``network`` (``{"class", "init_args"}`` of the :class:`PINNMLP`) of a
    PINNModule's hyper-parameters (:func:`is_pinn_hparams`)."""
    return {"class": NETWORK_CLASS, "init_args": {
        "dim": hp["problem_spec"]["dim"], "width": hp.get("width", 128),
        "depth": hp.get("depth", 4), "activation": hp.get("activation", "tanh"),
        "hard_boundary": hp.get("boundary", "hard") == "hard"}}


def _config_and_tensors(source) -> tuple[dict, dict[str, torch.Tensor]]:
    from .module import PINNModule

    if isinstance(source, PINNModule):
        hp, state = dict(source.hparams), source.state_dict()
        run, metrics = run_of_module(source), fit_metrics.of_module(source)
        recipe = recipe_of_module(source, RECORDED)
    else:
        ckpt = read_checkpoint(Path(source))
        hp, state = ckpt.get("hyper_parameters") or {}, ckpt["state_dict"]
        if not is_pinn_hparams(hp):
            raise ValueError(f"{str(source)!r}: not a PINNModule checkpoint (no problem_spec)")
        run, metrics = run_of_checkpoint(Path(source), ckpt), fit_metrics.of_checkpoint(ckpt)
        recipe = recipe_of_checkpoint(ckpt, RECORDED)
    problem = hp["problem_spec"]
    network = network_of_hparams(hp)
    training = {"estimator": hp["estimator_spec"], "variant": hp.get("variant"),
                "boundary": hp.get("boundary", "hard")}
    tensors = {k: v for k, v in state.items() if k.startswith("net.") or k == "problem.c"}
    return {"network": network, "problem": problem, "training": training,
            "provenance": provenance(run, recipe=recipe), "metrics": metrics,
            "versions": library_versions()}, tensors


def export_pinn(source, outdir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``outdir/config.json`` and ``outdir/model.safetensors`` for a PINN.

    Args:
        source: a :class:`~pdesurrogate.pinn.module.PINNModule` or the path of a Lightning
            ``.ckpt`` it wrote.
        outdir: the directory to create (written under a temporary name, then renamed).
        overwrite: replace an existing ``outdir``; only an export folder is replaced (see
            :func:`pdesurrogate.export.export_surrogate`).
    """
    out = Path(outdir)
    src_path = source if isinstance(source, (str, os.PathLike)) else None
    check_target(out, overwrite, src_path)
    parts, state = _config_and_tensors(source)
    config = {"format_version": FORMAT_VERSION, "format_revision": FORMAT_REVISION,
              "pdesurrogate_version": package_version(), "kind": KIND, **parts}
    return write_export(out, config, state, check=lambda tmp: load_pinn(tmp, config),
                        source=src_path, overwrite=overwrite)


def _check_config(cfg, where: str) -> None:
    _check_format(cfg, where)
    cfg = _without_newer_keys(cfg, where, CONFIG_KEYS + OPTIONAL_KEYS, PINN_PROVENANCE_KEYS)
    check_config_keys(cfg, where, CONFIG_KEYS, OPTIONAL_KEYS, kind="a PINN export has")
    net = cfg["network"]
    if not isinstance(net, dict) or set(net) != {"class", "init_args"} \
            or net["class"] != NETWORK_CLASS or not isinstance(net["init_args"], dict) \
            or set(net["init_args"]) != set(NETWORK_ARGS):
        raise ValueError(f"{where!r}: network must be {{'class': {NETWORK_CLASS!r}, 'init_args': "
                         f"{{keys {list(NETWORK_ARGS)}}}}}, got {net!r}")
    if "provenance" in cfg:
        check_provenance(cfg["provenance"], where, RUN_PROVENANCE_KEYS)
    fit_metrics.check_metrics(cfg.get("metrics"), where)
    check_versions(cfg.get("versions"), where)


def load_pinn(outdir: str | os.PathLike, config: dict | None = None,
              device: str | torch.device = "cpu") -> PINNSurrogate:
    """Load a PINN export (``config``: its parsed config.json, read from ``outdir`` if None,
    as :func:`pdesurrogate.load` reads it: a regular file of bounded size).

    The network and problem are built on the meta device first and checked against the
    weights' header; only then are they built in memory. Raises ValueError naming the file for
    bad keys or values, a pickle or non-safetensors weights file, missing / unexpected /
    wrongly shaped tensors, and a network too large to build.
    """
    d = Path(outdir)
    cfg_path = d / CONFIG_NAME
    if config is None:
        config = read_config(cfg_path)
    _check_config(config, str(cfg_path))
    w_path = d / WEIGHTS_NAME

    def build() -> nn.Module:
        holder = nn.Module()
        holder.net = PINNMLP(**config["network"]["init_args"])
        holder.problem = build_problem(config["problem"], "problem")
        return holder

    try:
        with meta_build():  # shapes only: checked against the weights' header first
            shapes = build()
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{str(cfg_path)!r}: {e}") from None
    if shapes.problem.dim != shapes.net.dim:
        raise ValueError(f"{str(cfg_path)!r}: problem.dim {shapes.problem.dim} != network dim "
                         f"{shapes.net.dim}")
    check_header(shapes, w_path)
    holder = materialise(build, cfg_path)
    tensors = read_weights(w_path)
    check_tensors(holder, tensors, w_path)
    holder.load_state_dict(tensors, strict=True)
    net, problem = holder.net, holder.problem
    return PINNSurrogate(net, problem, config).to(device)


class PINNSurrogate:
    """A loaded PINN: ``u(x)`` at points of the unit ball, no gradients.

    ``sur(x)`` (or ``sur.predict(x)``) takes ``(N, d)`` points (or one point ``(d,)``) and returns
    ``(N,)`` values (a scalar for one point), computed in float32: numpy (or lists) in, numpy
    float32 out; torch in, torch float32 out on the input's device (float64 input comes back
    float32). :meth:`exact` gives the problem's exact solution at the same points.
    """

    def __init__(self, net: PINNMLP, problem, config: dict):
        self.net = net.train(False)
        self.problem = problem
        self._config = json.loads(json.dumps(config))
        self.device = torch.device("cpu")

    @property
    def config(self) -> dict:
        """A copy of ``config.json``."""
        return json.loads(json.dumps(self._config))

    @property
    def dim(self) -> int:
        return self.net.dim

    def to(self, device: str | torch.device) -> PINNSurrogate:
        self.device = torch.device(device)
        self.net.to(self.device)
        self.problem.to(self.device)
        return self

    def _points(self, x) -> torch.Tensor:
        """``x`` as a float32 tensor on :attr:`device`, or one ValueError naming what it got."""
        what = f"real finite numbers of shape (N, {self.dim}) or ({self.dim},)"
        if isinstance(x, torch.Tensor):
            if x.is_complex() or x.dtype == torch.bool:
                raise ValueError(f"expected {what}, got a tensor of dtype {x.dtype}")
            t = x
        else:
            try:
                a = np.asarray(x)
            except ValueError:  # numpy refuses ragged nested lists
                raise ValueError(f"expected {what}, got ragged nested sequences") from None
            if a.dtype.kind not in "iuf":
                got = f"{x!r:.40}" if a.ndim == 0 else f"an array of dtype {a.dtype}"
                raise ValueError(f"expected {what}, got {got}")
            t = torch.as_tensor(a)
        if t.ndim not in (1, 2) or t.shape[-1] != self.dim:
            raise ValueError(f"expected points of shape (N, {self.dim}) or ({self.dim},), got "
                             f"{tuple(t.shape)}")
        return t.to(self.device, torch.float32)

    def _apply(self, fn, x) -> torch.Tensor | np.ndarray:
        is_np = not isinstance(x, torch.Tensor)
        src = None if is_np else x.device
        with torch.no_grad():
            t = self._points(x)
            single = t.ndim == 1
            if single:
                t = t.unsqueeze(0)
            step = max(1, _CHUNK_ELEMENTS // self.dim)
            ys, outside = [], 0
            for i in range(0, t.shape[0], step):
                chunk = t[i: i + step]
                if not bool(torch.isfinite(chunk).all()):
                    bad = int((~torch.isfinite(t)).any(1).sum())
                    raise ValueError(f"expected real finite numbers: {bad} of the {t.shape[0]} "
                                     f"point(s) hold NaN or inf (or values beyond float32's "
                                     f"range)")
                outside += int((torch.linalg.vector_norm(chunk, dim=1) > 1 + _BALL_TOL).sum())
                ys.append(fn(chunk))
        if outside:  # stacklevel 3: the caller of predict / exact
            warnings.warn(f"{outside} of the {t.shape[0]} point(s) lie outside the unit ball "
                          f"(|x| > 1); the PINN was trained on the ball only", stacklevel=3)
        y = torch.cat(ys) if ys else t.new_zeros(0)
        y = y[0] if single else y
        return y.cpu().numpy() if is_np else y.to(src)

    @overload
    def predict(self, x: torch.Tensor) -> torch.Tensor: ...
    @overload
    def predict(self, x: npt.ArrayLike) -> np.ndarray: ...

    def predict(self, x: npt.ArrayLike | torch.Tensor) -> torch.Tensor | np.ndarray:
        """``u(x)``: ``(N, d) -> (N,)`` (``(d,)`` -> scalar), dimensionless.

        ``x``: real finite numbers (numpy array, torch tensor or nested lists; ints and floats
        of any width), computed in float32: float64 input comes back float32. NaN, inf,
        complex, boolean or non-numeric input is a ValueError; points outside the unit ball
        (``|x| > 1``) are evaluated, with one warning per call saying how many there are.
        """
        return self._apply(self.net, x)

    __call__ = predict

    @overload
    def exact(self, x: torch.Tensor) -> torch.Tensor: ...
    @overload
    def exact(self, x: npt.ArrayLike) -> np.ndarray: ...

    def exact(self, x: npt.ArrayLike | torch.Tensor) -> torch.Tensor | np.ndarray:
        """The problem's exact solution ``u*(x)``: same shapes, dtypes and checks as
        :meth:`predict`."""
        return self._apply(self.problem.exact, x)

    def __repr__(self) -> str:
        p, n = self._config["problem"], self._config["network"]["init_args"]
        return (f"PINNSurrogate(problem={p['name']!r}, dim={p['dim']}, width={n['width']}, "
                f"depth={n['depth']}, trained with {self._config['training']['estimator']})")
