"""Roll an exported surrogate out over the initial conditions of a dataset file.

``predict_file`` reads the first stored time of each trajectory (any file ``open_dataset``
reads), rolls the surrogate out ``steps`` steps, writes the rollout as one of our netCDF files
and, where the file holds the truth at the same times, the relative L2 error per step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from pdesurrogate.datasets import DatasetWriter, open_dataset
from pdesurrogate.export import load


@dataclass
class PredictReport:
    out: str
    samples: int
    steps: int
    times: np.ndarray
    rel_l2: np.ndarray | None  # (steps + 1,) mean over samples, None without truth
    plot: str | None


def predict_file(model_dir: str, input_path: str, out_path: str, steps: int | None = None,
                 samples: int | None = None, batch_size: int = 64, plot: str | None = None,
                 device: str = "cpu") -> PredictReport:
    """Roll out ``model_dir`` from ``input_path``'s initial states; write ``out_path``.

    ``steps`` defaults to as many model steps as the file's stored times cover; ``samples``
    to all trajectories.
    """
    sur = load(model_dir, device=device)
    cfg = sur.config
    data = open_dataset(input_path)
    n, T = data.u.shape[0], data.u.shape[1]
    shape = tuple(data.u.shape[3:])
    if cfg["grid_shape"] and tuple(cfg["grid_shape"]) != shape:
        raise ValueError(f"{input_path!r}: grid {shape} does not match the model's "
                         f"{tuple(cfg['grid_shape'])} ({model_dir})")
    k = int(cfg.get("k") or 1)
    if steps is None:
        steps = (T - 1) // k
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    n_use = n if samples is None else min(int(samples), n)
    names = list(cfg["param_names"] or [])
    missing = [p for p in names if p not in data.params]
    if missing:
        raise ValueError(f"{input_path!r} lacks the parameter(s) {missing} the model needs")
    dt = cfg.get("dt")
    t0 = float(data.times[0])
    times = (t0 + np.arange(steps + 1) * dt if dt is not None
             else np.asarray(data.times[: steps * k + 1: k], dtype=float))
    has_truth = steps * k <= T - 1
    pred_all, err_num, err_den = [], np.zeros(steps + 1), np.zeros(steps + 1)
    writer = DatasetWriter(
        out_path, pde=cfg.get("pde") or data.pde or "unknown", grid=data.grid,
        grid_names=data.grid_names, times=times, channel_names=list(data.channel_names),
        param_names=names, n_samples=n_use,
        attrs={"source_file": os.path.abspath(input_path),
               "surrogate": os.path.abspath(model_dir), "kind": "surrogate rollout"},
    )
    with writer:
        for start in range(0, n_use, batch_size):
            stop = min(start + batch_size, n_use)
            u0 = np.asarray(data.u[start:stop, 0], dtype=np.float32)
            params = {p: np.asarray(data.params[p][start:stop], dtype=np.float32) for p in names}
            pred = sur.rollout(u0, params if names else None, steps=steps)
            writer.write(start, pred, {p: v for p, v in params.items()})
            if has_truth:
                truth = np.asarray(data.u[start:stop, : steps * k + 1: k], dtype=np.float64)
                diff = (pred - truth).reshape(stop - start, steps + 1, -1)
                num = np.linalg.norm(diff, axis=-1)
                den = np.linalg.norm(truth.reshape(stop - start, steps + 1, -1), axis=-1)
                err_num += (num / np.maximum(den, 1e-30)).sum(axis=0)
                err_den += stop - start
            if plot and start == 0:
                pred_all.append(pred[:1])
    rel = err_num / np.maximum(err_den, 1) if has_truth else None
    plot_path = None
    if plot:
        from pdesurrogate.plots import rollout_figure

        truth0 = (np.asarray(data.u[0:1, : steps * k + 1: k], dtype=np.float32)
                  if has_truth else None)
        plot_path = rollout_figure(pred_all[0], truth0, times, rel, plot,
                                   title=f"{cfg.get('pde')}: {os.path.basename(model_dir)}")
    data.close()
    return PredictReport(out=out_path, samples=n_use, steps=steps, times=times, rel_l2=rel,
                         plot=plot_path)
