"""generate_dataset with a tiny stand-in solver: exact values, determinism, failure paths."""

import json
import math
import os

import h5py
import numpy as np
import pytest
import torch
import xarray as xr

from pdesurrogate.datasets import generate_dataset, open_dataset
from pdesurrogate.datasets.generate import GenerationError, sample_seed
from pdesurrogate.solvers.base import Solver, SolverDivergedError, uniform


class SineAdvection(Solver):
    """u_t + beta u_x = 0 on [0, 1), 16 points, u0 = a sin(2 pi (x + phase)); solved exactly
    by the formula. ``diverge_above``: beta past it raises SolverDivergedError; ``fail_on``:
    the solve call with this number raises RuntimeError; ``log``: fill ``linear_stats``."""

    name = "sine_advection"
    channels = 1
    param_names = ("beta", "amp")

    def __init__(self, n_points: int = 16, diverge_above: float = math.inf, fail_on: int = -1,
                 log: bool = False):
        self.n_points, self.diverge_above, self.fail_on, self.log = (
            n_points, diverge_above, fail_on, log)
        self.grid = (torch.arange(n_points, dtype=torch.float64) / n_points,)
        self.calls = 0
        if log:
            self.linear_stats = []

    def sample(self, n, seed, dtype=torch.float32, device="cpu"):
        gen = torch.Generator().manual_seed(seed)
        beta = uniform(gen, n, (0.1, 1.0))
        amp = uniform(gen, n, (0.5, 2.0))
        phase = uniform(gen, n, (0.0, 1.0))
        return self.exact(beta, amp, phase, 0.0).to(dtype), {"beta": beta, "amp": amp}

    def exact(self, beta, amp, phase, t):
        x = self.grid[0]
        arg = 2 * math.pi * (x[None] - beta[:, None] * t + phase[:, None])
        return (amp[:, None] * torch.sin(arg))[:, None]

    def advance(self, u, params, duration):
        # exact shift by beta * duration of the single mode, from its two Fourier coefficients
        c = torch.fft.rfft(u.double(), dim=-1)
        k = torch.fft.rfftfreq(self.n_points, d=1.0 / self.n_points, dtype=torch.float64)
        beta = params["beta"].double().reshape(-1, 1, 1)
        c = c * torch.exp(-2j * math.pi * k * beta * duration)
        return torch.fft.irfft(c, n=self.n_points, dim=-1).to(u.dtype)

    def solve(self, u0, params, times):
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("stand-in failure")
        if bool((params["beta"] > self.diverge_above).any()):
            raise SolverDivergedError(self.name, 0, 0.0, "beta too large")
        if self.log:
            self.linear_stats.append({"omega": 1.5, "iterations": 10 * self.calls,
                                      "converged": True})
        return super().solve(u0, params, times)


TIMES = [0.0, 0.25, 0.5]


def test_values_equal_direct_solve_and_formula(tmp_path):
    """File contents equal solver.solve on the same seed bit for bit, and the exact
    travelling sine to 1e-5 (float32 round-off); xarray reads the same."""
    solver = SineAdvection()
    path = tmp_path / "adv.nc"
    rep = generate_dataset(solver, path, samples=5, times=TIMES, seed=11, batch_size=2,
                           workers=1, progress=True)
    assert rep.samples == 5 and rep.batches == 3 and rep.retries == 0 and rep.path == path
    assert rep.samples_per_second > 0
    with open_dataset(path) as d:
        assert d.u.shape == (5, 3, 1, 16) and d.pde == "sine_advection"
        assert d.grid_names == ("x",) and d.channel_names == ("u",)
        np.testing.assert_array_equal(d.sim_id, np.arange(5))
        with h5py.File(path) as f:
            seeds = f["seed"][()]
        for i in range(5):  # each sample drawn and solved alone, from its stored seed
            assert seeds[i] == sample_seed(11, i)
            u0, params = solver.sample(1, int(seeds[i]))
            direct = solver.solve(u0, params, TIMES).numpy()
            np.testing.assert_array_equal(d.u[i:i + 1], direct)
            np.testing.assert_array_equal(d.params["beta"][i:i + 1], params["beta"].numpy())
        beta, amp = torch.as_tensor(d.params["beta"]), torch.as_tensor(d.params["amp"])
        phase = torch.tensor([solver_phase(d.u[i, 0, 0], a) for i, a in enumerate(amp)])
        for j, t in enumerate(TIMES):
            want = solver.exact(beta, amp, phase, t)[:, 0].numpy()
            np.testing.assert_allclose(d.u[:, j, 0], want, atol=1e-5)
        assert d.attrs["diverged_batches"] == 0 and d.attrs["seed"] == 11
        assert json.loads(d.attrs["solver_settings"])["n_points"] == 16
    ds = xr.open_dataset(path, engine="h5netcdf")
    try:
        assert ds["u"].dims == ("sample", "time", "channel", "x")
        np.testing.assert_array_equal(ds["time"].values, TIMES)
    finally:
        ds.close()


def solver_phase(u0: np.ndarray, amp: float) -> float:
    """Phase of a sin(2 pi (x + phase)) sampled on 16 points, from its first Fourier mode."""
    c = np.fft.rfft(u0.astype(np.float64))[1]
    return float((np.angle(c) + math.pi / 2) / (2 * math.pi)) % 1.0


def test_same_file_for_one_and_two_workers(tmp_path):
    """workers=1 and workers=2 (forked pool) write identical u, params, seeds (exact)."""
    paths = []
    for w in (1, 2):
        p = tmp_path / f"w{w}.nc"
        generate_dataset(SineAdvection(), p, samples=7, times=TIMES, seed=3, batch_size=2,
                         workers=w, progress=False)
        paths.append(p)
    with open_dataset(paths[0]) as a, open_dataset(paths[1]) as b:
        np.testing.assert_array_equal(a.u[:], b.u[:])
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k])
        np.testing.assert_array_equal(a.sim_id, b.sim_id)


def test_same_file_for_any_batch_size(tmp_path):
    """batch_size 1, 2, 3 and 7 (one batch) write identical u, params and per-sample seeds:
    each sample has its own seed. Before, a batch was drawn from one seed, and batch_size 2
    and 3 gave other parameters and states altogether."""
    contents = []
    for bs in (1, 2, 3, 7):
        p = tmp_path / f"bs{bs}.nc"
        generate_dataset(SineAdvection(), p, samples=7, times=TIMES, seed=3, batch_size=bs,
                         workers=1, progress=False)
        with h5py.File(p) as f:
            contents.append({k: f[k][()] for k in ("u", "beta", "amp", "seed")})
    assert len(set(contents[0]["seed"].tolist())) == 7
    for other in contents[1:]:
        for k, v in contents[0].items():
            np.testing.assert_array_equal(v, other[k], err_msg=k)


@pytest.mark.parametrize("name, size", [("advection1d", {"n_points": 16}),
                                        ("burgers1d", {"n_points": 16}),
                                        ("ks1d", {"n_points": 16}),
                                        ("navier_stokes2d", {"n": 8}), ("heat2d", {"n": 6}),
                                        ("darcy2d", {"n": 6})])
def test_solvers_draw_the_same_samples_for_any_batch_size(tmp_path, name, size):
    """Every registered solver: batch_size 2 and 3 give the same parameters and initial states
    (time-dependent solvers) bit for bit, and states within the documented caveats (a step
    chosen over the batch, the SOR tuner's history): 1e-4 here."""
    from pdesurrogate.solvers import make_solver

    got = []
    for bs in (2, 3):
        p = tmp_path / f"{name}{bs}.nc"
        generate_dataset(make_solver(name, **size), p, samples=5, times=[0.0, 0.02], seed=9,
                         batch_size=bs, workers=1, progress=False)
        with open_dataset(p) as d:
            got.append((d.u[:], {k: np.asarray(v) for k, v in d.params.items()}))
    (u2, p2), (u3, p3) = got
    if not make_solver(name, **size).steady:  # a steady solver stores its solution only
        np.testing.assert_array_equal(u2[:, 0], u3[:, 0])
    for k in p2:
        np.testing.assert_array_equal(p2[k], p3[k], err_msg=k)
    np.testing.assert_allclose(u2, u3, rtol=0, atol=1e-4)


def test_divergence_redraws_counted_and_deterministic(tmp_path):
    """Batches with beta > 0.5 diverge and are redrawn: no stored beta exceeds 0.5, the
    retry count is the same in the report and the file attrs, for 1 and 2 workers."""
    reps = []
    for w in (1, 2):
        p = tmp_path / f"d{w}.nc"
        reps.append(generate_dataset(SineAdvection(diverge_above=0.5), p, samples=6, times=TIMES,
                                     seed=5, batch_size=1, workers=w, max_retries=20,
                                     progress=False))
        with open_dataset(p) as d:
            assert np.all(d.params["beta"] <= 0.5)
            assert d.attrs["diverged_batches"] == reps[-1].retries
    assert reps[0].retries > 0 and reps[0].retries == reps[1].retries


@pytest.mark.parametrize("workers", [1, 2])
def test_exhausted_retries_leave_no_file(tmp_path, workers):
    path = tmp_path / "never.nc"
    with pytest.raises(GenerationError, match="diverged 3 times"):
        generate_dataset(SineAdvection(diverge_above=-1.0), path, samples=4, times=TIMES,
                         batch_size=2, workers=workers, max_retries=2, progress=False)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_exception_mid_generation_leaves_no_file(tmp_path, workers):
    """The second solve raises: no file under the final name, no temporary file left."""
    path = tmp_path / "broken.nc"
    with pytest.raises(RuntimeError, match="stand-in failure"):
        generate_dataset(SineAdvection(fail_on=2), path, samples=6, times=TIMES, batch_size=2,
                         workers=workers, progress=False)
    assert os.listdir(tmp_path) == []


def test_linear_stats_summary_in_attrs(tmp_path):
    """A solver with linear_stats gets a JSON summary: count 3, mean iterations 20."""
    path = tmp_path / "lin.nc"
    rep = generate_dataset(SineAdvection(log=True), path, samples=3, times=TIMES, batch_size=1,
                           workers=1, progress=False)
    with open_dataset(path) as d:
        summary = json.loads(d.attrs["linear_stats"])
    assert summary == rep.linear_stats
    assert summary["count"] == 3 and summary["mean_iterations"] == 20.0
    assert summary["omegas"] == [1.5]


def test_generate_takes_the_linear_log_out_of_the_solver(tmp_path):
    """In-process generation leaves no per-solve log behind in the solver (a long run would
    grow it without bound), and the summary still counts every solve."""
    solver = SineAdvection(log=True)
    rep = generate_dataset(solver, tmp_path / "lin.nc", samples=4, times=TIMES, batch_size=1,
                           workers=1, progress=False)
    assert solver.linear_stats == [] and rep.linear_stats["count"] == 4


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="samples"):
        generate_dataset(SineAdvection(), tmp_path / "x.nc", samples=0, times=TIMES)
    with pytest.raises(ValueError, match="times"):
        generate_dataset(SineAdvection(), tmp_path / "x.nc", samples=1, times=[0.5, 0.1])
    assert os.listdir(tmp_path) == []


def test_output_path_checked_before_solving(tmp_path):
    """An existing folder as the output is an error before any solve, naming it and leaving
    nothing behind; a missing parent folder is created."""
    solver = SineAdvection()
    folder = tmp_path / "data"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=r"output .*data' is a folder; expected a file "
                                                r"name such as .*sine_advection\.nc"):
        generate_dataset(solver, folder, samples=2, times=TIMES, workers=1, progress=False)
    assert solver.calls == 0 and os.listdir(folder) == []
    (tmp_path / "afile").write_text("")
    with pytest.raises(NotADirectoryError, match="afile' is a file"):
        generate_dataset(solver, tmp_path / "afile" / "sub" / "x.nc", samples=2, times=TIMES,
                         workers=1, progress=False)
    assert solver.calls == 0
    path = tmp_path / "new" / "deeper" / "adv.nc"
    generate_dataset(solver, path, samples=2, times=TIMES, workers=1, progress=False)
    assert os.listdir(path.parent) == ["adv.nc"]


_SLOW_GENERATE = """
import os, signal, sys, time
# Ctrl-C's default even where this runs in the background of a non-interactive shell, which
# starts its background jobs with SIGINT ignored (a CI job run that way hung here)
signal.signal(signal.SIGINT, signal.default_int_handler)
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers.base import Solver
import torch

class Slow(Solver):
    name, channels, param_names = "slow", 1, ("a",)
    def __init__(self):
        self.grid = (torch.arange(4, dtype=torch.float64) / 4,)
    def sample(self, n, seed, dtype=torch.float32, device="cpu"):
        return torch.zeros(n, 1, 4, dtype=dtype), {"a": torch.zeros(n, dtype=torch.float64)}
    def advance(self, u, params, duration):
        return u
    def solve(self, u0, params, times):
        open(os.path.join(sys.argv[2], str(os.getpid())), "w").close()
        time.sleep(30)
        return super().solve(u0, params, times)

generate_dataset(Slow(), sys.argv[1], samples=4, times=[0.0, 1.0], batch_size=1, workers=2,
                 progress=False)
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc") or os.name != "posix", reason="needs /proc")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_removes_temporary_file_and_ends_workers(tmp_path, sig):
    """SIGTERM (or Ctrl-C's SIGINT) to a 2-worker run whose workers are mid-solve: the process
    exits within seconds (SIGTERM: status 143 and a message naming the file), no temporary
    or final file is left, and both worker processes have ended."""
    import signal
    import subprocess
    import sys
    import time

    out, pids, log = tmp_path / "out", tmp_path / "pids", tmp_path / "stderr.txt"
    out.mkdir()
    pids.mkdir()
    workers: list[int] = []
    # stderr to a file: a pipe would stay open in leftover workers and block the read
    with open(log, "w") as err_file:
        proc = subprocess.Popen([sys.executable, "-c", _SLOW_GENERATE, str(out / "k2.nc"),
                                 str(pids)], stderr=err_file)
    try:
        deadline = time.monotonic() + 60
        while len(os.listdir(pids)) < 2 or not os.listdir(out):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        workers = [int(p) for p in os.listdir(pids)]
        proc.send_signal(getattr(signal, sig))
        rc = proc.wait(timeout=15)
        if sig == "SIGTERM":
            err = log.read_text()
            assert rc == 128 + signal.SIGTERM, err
            assert "stopped by SIGTERM" in err and "k2.nc" in err and "Traceback" not in err
        assert os.listdir(out) == []
        deadline = time.monotonic() + 5
        while any(_running(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_running(p) for p in workers)
    finally:
        proc.kill()
        proc.wait()
        for p in workers:
            if _running(p):
                os.kill(p, signal.SIGKILL)


def test_sigterm_after_the_rename_says_the_file_is_complete(tmp_path, monkeypatch, capsys):
    """A SIGTERM that lands while the worker processes stop, after the file was renamed into
    place, exits 143 with a message saying the file is complete (not "nothing is written"),
    and the file reads back whole."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("needs SIGTERM's default action in the main thread")
    import pdesurrogate.datasets.generate as gen

    class LateLanes(gen.Lanes):
        def close(self):
            super().close()
            # only while generate's handler is in place: SIGTERM's default would end pytest
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, \
                "generate's SIGTERM handler is gone before the worker processes stop"
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(gen, "Lanes", LateLanes)
    path = tmp_path / "late.nc"
    with pytest.raises(SystemExit) as stop:
        generate_dataset(SineAdvection(), path, samples=4, times=[0.0, 0.1], batch_size=2,
                         workers=2, progress=False)
    assert stop.value.code == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert "was written in full" in err and "nothing is written" not in err, err
    with open_dataset(path) as data:
        assert data.u.shape[:2] == (4, 2)


def test_existing_output_is_refused_unless_overwrite(tmp_path):
    """An existing file at the output path is an error before any solve (it may hold hours of
    compute) and is left as it was; overwrite=True replaces it with a complete file."""
    path = tmp_path / "adv.nc"
    path.write_text("keep me")
    solver = SineAdvection()
    with pytest.raises(FileExistsError, match=r"'.*adv\.nc' exists; pass --overwrite "
                                              r"\(overwrite=True\) to replace it"):
        generate_dataset(solver, path, samples=2, times=TIMES, workers=1, progress=False)
    assert solver.calls == 0 and path.read_text() == "keep me"
    assert os.listdir(tmp_path) == ["adv.nc"]
    generate_dataset(solver, path, samples=2, times=TIMES, workers=1, progress=False,
                     overwrite=True)
    with open_dataset(path) as d:
        assert d.u.shape == (2, 3, 1, 16)


class _Intruder(SineAdvection):
    """Writes ``target`` (another process's file, as it were) during its first solve."""

    def __init__(self, target):
        super().__init__()
        self.target = target

    def solve(self, u0, params, times):
        if self.calls == 0:
            self.target.write_text("theirs")
        return super().solve(u0, params, times)


@pytest.mark.parametrize("hard_links", [True, False])
def test_file_created_meanwhile_is_not_replaced(tmp_path, monkeypatch, hard_links):
    """A file that appears at the output path while generating is left alone: FileExistsError
    naming the finished temporary file, which is complete (with or without hard links)."""
    if not hard_links:
        def no_link(src, dst):
            raise PermissionError(1, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)
    path = tmp_path / "adv.nc"
    with pytest.raises(FileExistsError, match=r"adv\.nc' was created by someone else .* the "
                                              r"finished file is '.*adv\.nc\.tmp-\d+'"):
        generate_dataset(_Intruder(path), path, samples=3, times=TIMES, batch_size=2,
                         workers=1, progress=False)
    assert path.read_text() == "theirs"
    (tmp,) = [p for p in tmp_path.iterdir() if p != path]
    with open_dataset(tmp) as d:
        assert d.u.shape == (3, 3, 1, 16)


@pytest.mark.parametrize("times, message", [
    ([0.0, 0.0, 0.0, 0.0], r"strictly increasing, got times\[1\] = 0.0 after times\[0\] = 0.0"),
    ([0.0, 0.5, 0.5], r"strictly increasing, got times\[2\] = 0.5 after times\[1\] = 0.5"),
    ([0.0, float("nan")], r"finite and >= 0, got times\[1\] = nan"),
    ([-1.0, 0.0], r"finite and >= 0, got times\[0\] = -1.0"),
    ([], r"times must not be empty"),
])
def test_times_must_strictly_increase(tmp_path, times, message):
    """Repeated times (t_end 0 with 4 times wrote [0, 0, 0, 0]) are one error, before solving."""
    solver = SineAdvection()
    with pytest.raises(ValueError, match=message):
        generate_dataset(solver, tmp_path / "x.nc", samples=1, times=times, workers=1)
    assert solver.calls == 0 and os.listdir(tmp_path) == []


@pytest.mark.parametrize("seed", [2**63, 2**64, -1, 1.5])
def test_seed_must_fit_int64(tmp_path, seed):
    """A seed that does not fit the int64 attribute is one error naming the range (2**64 gave
    "Object dtype dtype('O') has no native HDF5 equivalent"), before anything is written."""
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*63\), got"):
        generate_dataset(SineAdvection(), tmp_path / "x.nc", samples=1, times=TIMES, seed=seed,
                         workers=1, progress=False)
    assert os.listdir(tmp_path) == []


def test_largest_seed_is_stored(tmp_path):
    path = tmp_path / "x.nc"
    generate_dataset(SineAdvection(), path, samples=1, times=TIMES, seed=2**63 - 1, workers=1,
                     progress=False)
    with open_dataset(path) as d:
        assert d.attrs["seed"] == 2**63 - 1


def test_default_workers_follow_cpu_affinity(tmp_path, monkeypatch):
    """workers=None uses the CPUs this process may run on (a Slurm allocation: 1 here), not
    os.cpu_count() (every core of the node: 8 here)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr(os, "process_cpu_count", lambda: 1, raising=False)
    rep = generate_dataset(SineAdvection(), tmp_path / "x.nc", samples=4, times=TIMES,
                           batch_size=1, progress=False)
    assert rep.workers == 1


def test_empty_output_path_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"the output path is empty; expected a file name such "
                                         r"as 'sine_advection\.nc'"):
        generate_dataset(SineAdvection(), "", samples=1, times=TIMES, workers=1)


def test_plain_progress_lines_when_stderr_is_not_a_terminal(tmp_path, capsys, monkeypatch):
    """stderr not a terminal (pytest's capture, a Slurm log): plain lines there, the last one
    with every sample; nothing on stdout."""
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):  # rich: "a terminal"
        monkeypatch.delenv(var, raising=False)
    generate_dataset(SineAdvection(), tmp_path / "x.nc", samples=5, times=TIMES, batch_size=2,
                     workers=1, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[-1].startswith("generating sine_advection: 5/5 samples (100 %), "), err
    assert " samples/s, elapsed 0:00:0" in lines[-1] and "left" not in lines[-1]


def test_plain_progress_every_ten_seconds_at_most():
    """A line after a batch once 10 s have passed since the last one (batches of 3 s: after
    the 4th and 8th), with rate and time left; finish() adds the final line."""
    import io

    from pdesurrogate.datasets.progress import PlainProgress

    now = [100.0]
    stream = io.StringIO()
    bar = PlainProgress("generating toy", 30, clock=lambda: now[0], stream=stream)
    for _ in range(9):
        now[0] += 3.0
        bar.advance(2)
    bar.finish()
    assert stream.getvalue().splitlines() == [
        "generating toy: 8/30 samples (27 %), 0.667 samples/s, elapsed 0:00:12, "
        "about 0:00:33 left",
        "generating toy: 16/30 samples (53 %), 0.667 samples/s, elapsed 0:00:24, "
        "about 0:00:21 left",
        "generating toy: 18/30 samples (60 %), 0.667 samples/s, elapsed 0:00:27, "
        "about 0:00:18 left",
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_tasks_are_made_lazily(tmp_path, workers):
    """A million batches of one sample: the first solve fails, and until then the driver has
    allocated a few MiB, not a list of a million tasks (5e6 batches took 920 MB RSS), nor
    with 2 workers a future for every batch."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(RuntimeError, match="stand-in failure"):
            generate_dataset(SineAdvection(fail_on=1), tmp_path / "x.nc", samples=10**6,
                             times=TIMES, batch_size=1, workers=workers, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB"
    assert os.listdir(tmp_path) == []


def test_cf_attributes(tmp_path):
    """Nondimensional time: units "1" and a long_name saying so, no axis "T" (CF reads a T axis
    as a time coordinate, whose units must be "<unit> since <date>"); parameters carry units
    and a long_name."""
    path = tmp_path / "x.nc"
    generate_dataset(SineAdvection(), path, samples=1, times=TIMES, workers=1, progress=False)
    ds = xr.open_dataset(path, engine="h5netcdf")
    try:
        assert ds["time"].attrs == {"units": "1",
                                    "long_name": "simulated time (nondimensional)"}
        assert ds["x"].attrs["axis"] == "X"
        for p in ("beta", "amp"):
            assert ds[p].attrs["units"] == "1"
            assert ds[p].attrs["long_name"] == f"PDE parameter {p}"
    finally:
        ds.close()


@pytest.mark.parametrize("compression, level", [("gzip", 6), ("lzf", None)])
def test_compression_is_opt_in_and_changes_no_value(tmp_path, compression, level):
    """generate_dataset(compression=...) writes u through that filter; the same seed gives the
    same values, bit for bit, as the default, uncompressed file. A bad setting is refused
    before anything is solved or created."""
    solver = SineAdvection()
    plain, packed = tmp_path / "plain.nc", tmp_path / "packed.nc"
    generate_dataset(solver, plain, samples=5, times=TIMES, seed=3, batch_size=2, workers=1,
                     progress=False)
    generate_dataset(solver, packed, samples=5, times=TIMES, seed=3, batch_size=2, workers=2,
                     progress=False, compression=compression, compression_level=level)
    with h5py.File(plain) as f, h5py.File(packed) as g:
        assert f["u"].compression is None
        assert (g["u"].compression, g["u"].compression_opts) == (compression, level)
    with open_dataset(plain) as a, open_dataset(packed) as b:
        np.testing.assert_array_equal(b.u[:], a.u[:])
        np.testing.assert_array_equal(b.params["beta"], a.params["beta"])

    calls = solver.calls
    with pytest.raises(ValueError, match="compression_level must be an int from 0 to 9"):
        generate_dataset(solver, tmp_path / "new" / "x.nc", samples=1, times=TIMES,
                         workers=1, compression="gzip", compression_level=12)
    assert solver.calls == calls and not (tmp_path / "new").exists()
