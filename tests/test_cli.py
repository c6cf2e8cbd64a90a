"""The `pdesurrogate` command: help, generate end to end, and clear errors on bad input."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pdesurrogate.cli import main
from pdesurrogate.datasets import open_dataset
from pdesurrogate.solvers import Advection1D

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_subcommands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("generate", "fit", "test"):
        assert name in out


@pytest.mark.parametrize("sub", ["fit", "test"])
def test_fit_and_test_help_show_examples_line_by_line(sub, capsys):
    """Our description with its example commands on their own lines, not Lightning's
    "Runs the full optimization routine." (test's was cut off mid-sentence)."""
    try:
        rc = main([sub, "--help"])
    except SystemExit as e:
        rc = e.code
    out = capsys.readouterr().out
    assert rc == 0
    assert f"\n  pdesurrogate {sub} --config " in out, out[:3000]
    assert "Runs the full optimization routine." not in out


def _help(argv, capsys) -> str:
    """``pdesurrogate ARGV --help``'s text, its whitespace (line wrapping) made single spaces."""
    try:
        rc = main([*argv, "--help"])
    except SystemExit as e:
        rc = e.code
    out = capsys.readouterr().out
    assert rc == 0 and out, (argv, rc)
    return " ".join(out.split())


# folders (and files) only a checkout of the repository has: a pip install has none of them
CHECKOUT_ONLY = re.compile(r"\b(benchmarks|slurm|examples|scripts|tests|\.ci)/|\bMakefile\b|"
                           r"\bmake (demo|test|setup|bench)\b")
SHIPPED_CONFIG = re.compile(r"\bconfigs/(data|fit|online)/([A-Za-z0-9_]+)\.yaml")


@pytest.mark.parametrize("argv", [
    [], ["generate"], ["fit"], ["test"], ["export"], ["predict"], ["configs"], ["online"],
])
def test_help_sends_a_pip_user_only_to_what_a_pip_install_has(argv, capsys):
    """A path that only a checkout of the repository has (benchmarks/, slurm/, ...) is said to
    be there; a configs/KIND/NAME.yaml is a shipped config, and the text says how to get the
    shipped configs as files (`pdesurrogate configs --copy`). The fit help sent a pip user to
    slurm/train.sbatch, the generate help to configs/data/burgers1d.yaml, with neither."""
    from pdesurrogate.shipped_configs import shipped_configs

    text = _help(argv, capsys)
    for m in CHECKOUT_ONLY.finditer(text):
        near = text[max(0, m.start() - 150): m.end() + 150]
        assert "in a checkout of the repository" in near, (argv, near)
    shipped = {c.key for c in shipped_configs()}
    named = [(kind, name) for kind, name in SHIPPED_CONFIG.findall(text) if name != "NAME"]
    for kind, name in named:
        assert f"{kind}/{name}" in shipped, (argv, kind, name)
    if named or "configs/KIND/NAME.yaml" in text or re.search(r"configs/\w+/NAME", text):
        assert "pdesurrogate configs --copy" in text, argv


def test_version_names_the_package_and_its_libraries(capsys):
    from importlib import metadata

    import pdesurrogate

    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"pdesurrogate {pdesurrogate.__version__} (Python ")
    assert f"torch {metadata.version('torch')}" in out
    assert f"lightning {metadata.version('lightning')}" in out
    assert main(["-V"]) == 0 and capsys.readouterr().out.strip() == out


def test_unknown_command_is_an_error(capsys):
    assert main(["generat"]) == 2
    assert "unknown command 'generat'" in capsys.readouterr().err


def _write(path, text):
    path.write_text(text)
    return str(path)


def _exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # plain argparse parsers (export, predict, configs) exit
        return e.code


@pytest.mark.parametrize(("argv", "prefix"), [
    (["fit", "--trainer.max_epoch", "3"], "--trainer.max_epoch"),
    (["fit", "--trainer.max_epoch=3"], "--trainer.max_epoch=3"),
    (["fit", "--seed", "5"], "--seed"),  # seed_everything
    (["test", "--ckpt", "{tmp}/x.ckpt"], "--ckpt"),  # ckpt_path
    (["generate", "--solver", "advection1d", "--solver.init_args.n_points", "8", "--t_end",
      "0.01", "--n_times", "2", "--workers", "1", "--out", "{tmp}/x.nc", "--sample", "1"],
     "--sample"),
    (["predict", "--model", "{tmp}/m", "--input", "{tmp}/i.nc", "--out", "{tmp}/o.nc",
      "--sample", "1"], "--sample"),
    (["export", "{tmp}/x.ckpt", "{tmp}/out", "--over"], "--over"),
    (["configs", "--pat", "fit/fno_burgers"], "--pat"),
])
def test_option_prefixes_are_errors_that_name_them(argv, prefix, tmp_path, monkeypatch,
                                                   capsys):
    """A prefix of an option is not taken for the option (argparse's allow_abbrev): it is an
    unknown option, named in the error, and nothing runs. Before, ``--trainer.max_epoch 3``
    set max_epochs, ``--seed`` seed_everything, ``--sample`` --samples, and so on."""
    monkeypatch.chdir(tmp_path)  # fit's default_root_dir and data path are relative
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] in ("fit", "test"):
        argv[1:1] = ["--config", str(ROOT / "configs" / "fit" / "fno_burgers.yaml")]
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {prefix}" in err, err
    assert list(tmp_path.iterdir()) == []


def test_generate_writes_exact_advection(tmp_path):
    """The file holds the exactly shifted initial states (float32: to ~1e-6)."""
    cfg = _write(tmp_path / "adv.yaml", """
solver:
  class_path: Advection1D
  init_args: {n_points: 32, beta_range: [0.2, 0.8]}
samples: 6
t_end: 0.5
n_times: 3
batch_size: 4
workers: 1
""")
    out = tmp_path / "adv.nc"
    assert main(["generate", "--config", cfg, "--out", str(out), "--seed", "3"]) == 0
    with open_dataset(out) as data:
        assert data.u.shape == (6, 3, 1, 32)
        np.testing.assert_allclose(data.times, [0.0, 0.25, 0.5])
        u = data.u[:]
        beta = data.params["beta"]
        assert data.pde == "advection1d"
    assert np.all((beta >= 0.2) & (beta <= 0.8))
    # exact solution: shift each initial condition by beta * t in Fourier space
    u0 = torch.as_tensor(u[:, 0, 0], dtype=torch.float64)
    k = torch.fft.rfftfreq(32, d=1 / 32)
    for j, t in enumerate([0.0, 0.25, 0.5]):
        phase = torch.exp(-2j * np.pi * k * torch.as_tensor(beta)[:, None] * t)
        exact = torch.fft.irfft(torch.fft.rfft(u0) * phase, n=32)
        np.testing.assert_allclose(u[:, j, 0], exact.numpy(), atol=2e-5)


def test_generate_misspelt_config_key_names_it(tmp_path, capsys):
    cfg = _write(tmp_path / "bad.yaml", "solver:\n  class_path: Advection1D\nsampels: 3\n")
    assert main(["generate", "--config", cfg, "--out", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err
    assert "sampels" in err and "usage" not in err  # the error alone, not the option list
    assert not (tmp_path / "x.nc").exists()


def test_generate_misspelt_solver_argument_names_it(tmp_path, capsys):
    assert main(["generate", "--solver", "Advection1D", "--solver.init_args.n_pointz", "8",
                 "--out", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("pdesurrogate generate: error: solver > (pdesurrogate.solvers.Advection1D): "
                      "Option 'n_pointz' is not accepted"), err
    assert len(err) == 2  # and a pointer to --help; not jsonargparse's nested union dump


def test_condense_parse_error_keeps_the_innermost_errors_with_their_path():
    from pdesurrogate.cli import condense_parse_error

    msg = """Parser key "model":
  Does not validate against any of the Union subtypes
  Subtypes: [<class 'lightning.pytorch.core.module.LightningModule'>, <class 'NoneType'>]
  Errors:
    - Problem with given class_path 'pdesurrogate.training.NextStepModule':
        Parser key "model":
          Does not validate against any of the Union subtypes
          Errors:
            - Problem with given class_path 'pdesurrogate.models.FNO':
                Option 'hiden_channels' is not accepted
            - Expected a <class 'NoneType'>
          Given value type: <class 'dict'>
          Given value: {'class_path': 'pdesurrogate.models.FNO'}
    - Expected a <class 'NoneType'>
  Given value type: <class 'dict'>"""
    assert condense_parse_error(msg) == (
        "model > (pdesurrogate.training.NextStepModule) > model > (pdesurrogate.models.FNO): "
        "Option 'hiden_channels' is not accepted")
    assert condense_parse_error("unrecognized arguments: --x 1") == "unrecognized arguments: --x 1"


def test_trainer_integer_limits_stay_integers():
    """``--trainer.limit_train_batches 1`` is one batch, not 100 % (1.0): with rich imported
    before Lightning, typing's union cache made jsonargparse parse it as a float."""
    cfg = ROOT / "configs" / "fit" / "fno_burgers.yaml"
    out = subprocess.run([sys.executable, "-m", "pdesurrogate.cli", "fit", "--config", str(cfg),
                          "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches",
                          "0.5", "--print_config"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "limit_train_batches: 1\n" in out.stdout and "limit_val_batches: 0.5\n" in out.stdout


def test_generate_bad_value_is_one_clear_error(tmp_path, capsys):
    rc = main(["generate", "--solver", "Burgers1D", "--solver.init_args.nu_range", "[-1, 0.1]",
               "--out", str(tmp_path / "x.nc")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "nu_range must be positive" in err and "Traceback" not in err
    assert not (tmp_path / "x.nc").exists()


def test_solver_registry_and_make_solver():
    from pdesurrogate.solvers import SOLVERS, make_solver

    assert set(SOLVERS) == {"advection1d", "burgers1d", "ks1d", "navier_stokes2d", "heat2d",
                            "darcy2d"}
    assert isinstance(make_solver("advection1d", n_points=16), Advection1D)
    with pytest.raises(ValueError, match="unknown solver 'burgers'"):
        make_solver("burgers")


def test_test_without_a_checkpoint_is_refused(capsys):
    """Lightning would score the model's initial random weights."""
    cfg = ROOT / "configs" / "fit" / "fno_burgers.yaml"
    assert main(["test", "--config", str(cfg)]) == 2
    assert "needs --ckpt_path" in capsys.readouterr().err


def test_fit_without_arguments_says_how_to_give_a_config(capsys):
    assert main(["fit"]) == 2
    err = capsys.readouterr().err
    assert "needs a config: pdesurrogate fit --config configs/fit/NAME.yaml" in err, err


def test_online_takes_solver_registry_names_and_keeps_its_config_path(tmp_path):
    """`pdesurrogate online --solver burgers1d` as `generate` takes it; the --config path is
    passed on as given (online records the file in its run folder)."""
    from pdesurrogate.cli.solver_names import _solver_names_to_class_paths

    cfg = tmp_path / "c.yaml"
    cfg.write_text("solver: burgers1d\n")
    argv = ["--config", str(cfg), "--solver", "burgers1d", "--solver.class_path=ks1d"]
    assert _solver_names_to_class_paths(argv, configs=False) == [
        "--config", str(cfg), "--solver", "pdesurrogate.solvers.burgers.Burgers1D",
        "--solver.class_path=pdesurrogate.solvers.ks.KS1D"]
    assert _solver_names_to_class_paths(argv)[1].startswith(
        "solver: pdesurrogate.solvers.burgers.Burgers1D")


def test_the_config_loader_and_the_command_line_translate_names_alike():
    """One translation of registry names: online's config loader gives the class path that
    the command line's --solver NAME gives (generate and online)."""
    from pdesurrogate.cli.solver_names import _solver_names_to_class_paths
    from pdesurrogate.online import _load_yaml
    from pdesurrogate.solvers import SOLVERS

    for name in SOLVERS:
        loaded = _load_yaml(f"solver: {{class_path: {name}}}")["solver"]["class_path"]
        assert _solver_names_to_class_paths(["--solver", name]) == ["--solver", loaded]


@pytest.mark.parametrize("argv", [
    ["--solver", "{class_path: burgers1d, init_args: {n_points: 32}}"],
    ["--solver={class_path: burgers1d, init_args: {n_points: 32}}"],
    ["--solver", "{class_path: burgers1d}", "--solver.n_points", "32"]])
def test_online_takes_a_registry_name_as_class_path_on_the_command_line(argv):
    """--solver '{class_path: burgers1d}' as --solver burgers1d (it was 'Expected a dot import
    path string: burgers1d')."""
    from pdesurrogate.cli.solver_names import _solver_names_to_class_paths
    from pdesurrogate.online import _parse

    cfg = ROOT / "configs" / "online" / "burgers_fno.yaml"
    _, ns, _ = _parse(["--config", str(cfg), *_solver_names_to_class_paths(argv, configs=False)])
    assert ns.solver.class_path == "pdesurrogate.solvers.burgers.Burgers1D"
    assert ns.solver.init_args.n_points == 32


def test_generate_takes_a_registry_name_as_class_path_on_the_command_line(tmp_path):
    out = tmp_path / "a.nc"
    assert main(["generate", "--solver", "{class_path: advection1d, init_args: {n_points: 16}}",
                 "--samples", "2", "--n_times", "2", "--workers", "1", "--out", str(out)]) == 0
    with open_dataset(str(out)) as data:
        assert data.pde == "advection1d" and data.u.shape == (2, 2, 1, 16)


@pytest.mark.parametrize("module", ["pdesurrogate.cli", "pdesurrogate.online",
                                    "pdesurrogate.streaming.sample"])
def test_module_docstrings_stand_alone(module):
    """DESIGN.md lives in the developers' shared folder, not in the installed package: a
    docstring that cites it points a user at a file they do not have."""
    import importlib

    doc = importlib.import_module(module).__doc__
    assert doc and "DESIGN" not in doc, doc


def test_export_takes_what_only_the_data_can_tell(tmp_path, capsys):
    """`pdesurrogate export` of a checkpoint whose module never saw a FieldDataModule (plain
    DataLoaders): refused in one line naming --param-names; with --param-names/--channel-names/
    --pde/--dt the export is complete and predicts with named parameters."""
    import json

    import torch
    from lightning.pytorch import Trainer
    from torch.utils.data import DataLoader

    from pdesurrogate.loading import load
    from pdesurrogate.models import FNO
    from pdesurrogate.training import NextStepModule

    torch.manual_seed(0)
    items = [{"input": torch.randn(1, 16), "target": torch.randn(1, 16),
              "params": torch.rand(1)} for _ in range(4)]
    m = NextStepModule(FNO(1, 1, [4], 4, 1, n_params=1))
    trainer = Trainer(max_steps=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu",
                      default_root_dir=str(tmp_path))
    trainer.fit(m, DataLoader(items, batch_size=2))
    ckpt = tmp_path / "plain.ckpt"
    trainer.save_checkpoint(ckpt)
    capsys.readouterr()
    assert main(["export", str(ckpt), str(tmp_path / "bare")]) == 2
    err = capsys.readouterr().err
    assert "pdesurrogate export --param-names" in err and len(err.strip().splitlines()) <= 2, err
    assert not (tmp_path / "bare").exists()
    # the options before the positional arguments, as the usage line shows them
    assert main(["export", "--param-names", "nu", "--channel-names", "u", "--pde", "toy",
                 "--dt", "0.1", str(ckpt), str(tmp_path / "full")]) == 0
    cfg = json.loads((tmp_path / "full" / "config.json").read_text())
    assert (cfg["param_names"], cfg["channel_names"], cfg["pde"], cfg["dt"]) == (
        ["nu"], ["u"], "toy", 0.1)
    with pytest.raises(SystemExit):  # an empty name
        main(["export", "--param-names", "nu,", str(ckpt), str(tmp_path / "empty")])
    u = torch.randn(2, 1, 16)
    nu = torch.tensor([0.2, 0.7])
    torch.testing.assert_close(load(tmp_path / "full").predict(u, {"nu": nu}),
                               m.rollout(u, nu[:, None], 1)[:, 1], atol=0, rtol=0)


def test_a_class_path_module_that_does_not_import_says_where_python_looks(capsys):
    """`--solver my_solver.MyAdvection` with my_solver.py only in the current folder (not on
    the command's import path): the error adds where to put it (review: it only said 'No
    module named')."""
    assert main(["generate", "--solver.help", "nowhere_to_be_found.MySolver"]) == 2
    err = capsys.readouterr().err
    assert "No module named 'nowhere_to_be_found'" in err
    assert "put the folder that holds nowhere_to_be_found.py on PYTHONPATH (e.g. " \
           "PYTHONPATH=. for the current folder)" in " ".join(err.split()), err


def test_main_adds_its_logging_filter_once(monkeypatch, capsys):
    """Calls of main() in one process leave one filter on Lightning's rank_zero logger, which
    drops its "💡 Tip:" lines and keeps the rest. Before, each call added another (12 calls:
    12 filters, each run on every line Lightning logs)."""
    import logging

    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    monkeypatch.setattr(logger, "filters", [])
    for _ in range(2):
        assert main(["configs", "--path", "fit/fno_burgers"]) == 0
    capsys.readouterr()
    assert len(logger.filters) == 1, logger.filters

    def record(msg):
        return logging.LogRecord(logger.name, logging.INFO, __file__, 0, msg, None, None)

    assert not logger.filter(record("💡 Tip: For seamless cloud logging, try ..."))
    assert logger.filter(record("`Trainer.fit` stopped: `max_epochs=1` reached."))


@pytest.mark.parametrize("sub", ["fit", "test"])
def test_checkpoint_options_help_says_what_is_taken(sub, capsys):
    """--ckpt_path and --weights_only describe what the command takes (a local file, read
    weights-only), not Lightning's own text offering URLs, its keywords and unpickling, which
    are refused; fit's says where TensorBoard logs go."""
    text = _help([sub], capsys)
    assert "URLs and Lightning's keywords (best, last, hpc, registry) are refused" in text
    assert "Always true here: a checkpoint is read weights-only" in text
    assert "Path/URL" not in text and "special keywords" not in text
    if sub == "fit":
        assert "TensorBoard logs to <default_root_dir>/tensorboard/version_N/" in text
