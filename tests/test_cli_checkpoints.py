"""What ``pdesurrogate fit`` / ``test`` do with ``--ckpt_path``: a URL, ``--weights_only
false``, a pickle, a checkpoint naming another class are refused in one line before anything in
the file runs or is imported; the config, not the checkpoint, says what is built; and a fit's
checkpoints are written in their own folder, not through $TMPDIR."""

import functools
import http.server
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pdesurrogate.cli import main
from pdesurrogate.datasets import generate_dataset
from pdesurrogate.solvers import Burgers1D

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "fit" / "fno_burgers.yaml")


def _tiny(data: str, root: Path) -> list[str]:
    return ["--data.init_args.path", data, "--data.init_args.batch_size", "4",
            "--model.init_args.model.init_args.hidden_channels", "8",
            "--trainer.max_epochs", "1", "--trainer.num_sanity_val_steps", "0",
            "--trainer.default_root_dir", str(root), "--trainer.enable_model_summary", "false",
            "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, Path]:
    """One tiny fit: its saved config.yaml and last.ckpt."""
    tmp = tmp_path_factory.mktemp("fitted")
    data = tmp / "burgers.nc"
    generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"), data, samples=10,
                     times=np.linspace(0, 1, 3), seed=0, workers=1)
    assert main(["fit", "--config", CONFIG, *_tiny(str(data), tmp / "runs")]) == 0
    folder = tmp / "runs" / "csv" / "version_0"
    return {"config": folder / "config.yaml", "ckpt": folder / "checkpoints" / "last.ckpt",
            "data": data}


class _Marker:
    """Unpickled, it creates the file ``path``: the stand-in for a payload (os.system ...)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def _one_line_error(err: str, subcommand: str) -> str:
    """The error line of a refusal; there is no traceback, only the hint to get one."""
    lines = _lines(err)
    assert len(lines) == 2 and "Traceback" not in err, err
    assert lines[0].startswith(f"pdesurrogate {subcommand}: error: ")
    assert lines[1] == "(set PDESURROGATE_DEBUG=1 for the full traceback)"
    return lines[0]


@pytest.fixture
def server(tmp_path, run, monkeypatch):
    """An HTTP server on 127.0.0.1 serving evil.ckpt (the fit's checkpoint plus a payload that
    creates ``marker`` when unpickled); ``requests`` lists the paths asked for."""
    served, marker = tmp_path / "served", tmp_path / "payload_ran"
    served.mkdir()
    ckpt = torch.load(run["ckpt"], weights_only=True)
    ckpt["payload"] = _Marker(str(marker))
    torch.save(ckpt, served / "evil.ckpt")
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # torch.hub's download cache
    yield {"url": f"http://127.0.0.1:{httpd.server_address[1]}/evil.ckpt", "marker": marker,
           "requests": requests}
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("subcommand", ["test", "fit"])
@pytest.mark.parametrize("given_in", ["command line", "config"])
def test_a_url_ckpt_path_is_refused_before_it_is_fetched(subcommand, given_in, tmp_path, run,
                                                         server, capsys):
    """Lightning reads a path starting with http through torch.hub and unpickles it
    (weights_only=False): the file's code would run."""
    config = run["config"]
    if given_in == "config":
        cfg = yaml.safe_load(config.read_text())
        cfg["ckpt_path"] = server["url"]
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump(cfg))
        args = ["--config", str(config)]
    else:
        args = ["--config", str(config), "--ckpt_path", server["url"]]
    rc = main([subcommand, *args, "--trainer.default_root_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert not server["marker"].exists(), "the checkpoint's pickle ran"
    assert rc == 2, err
    assert f"--ckpt_path '{server['url']}': a URL; checkpoints are read from local files only" \
        in _one_line_error(err, subcommand)
    assert server["requests"] == []


def test_weights_only_false_is_refused(tmp_path, run, capsys):
    """--weights_only false would unpickle the checkpoint; true (or none) reads it."""
    common = ["test", "--config", str(run["config"]), "--ckpt_path", str(run["ckpt"]),
              "--trainer.default_root_dir", str(tmp_path / "out")]
    rc = main([*common, "--weights_only", "false"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "--weights_only false is refused: it would unpickle whatever the checkpoint holds" \
        in _one_line_error(err, "test")
    for given in ([], ["--weights_only", "true"]):
        rc = main([*common, *given])
        assert rc == 0, capsys.readouterr().err


def test_a_checkpoint_that_is_not_one_is_refused_in_one_line(tmp_path, run, capsys):
    """A plain pickle, and a torch.save archive holding an object whose unpickling runs code:
    one line each, as `pdesurrogate export` says it, and the payload never runs."""
    marker = tmp_path / "payload_ran"
    pickled = tmp_path / "plain.ckpt"
    pickled.write_bytes(__import__("pickle").dumps(_Marker(str(marker))))
    payload = tmp_path / "payload.ckpt"
    ckpt = torch.load(run["ckpt"], weights_only=True)
    torch.save({**ckpt, "payload": _Marker(str(marker))}, payload)
    for path, reason in ((pickled, "it is a plain pickle, not a torch.save archive"),
                         (payload, "which a weights-only load refuses")):
        rc = main(["test", "--config", str(run["config"]), "--ckpt_path", str(path)])
        err = capsys.readouterr().err
        assert rc == 2, err
        line = _one_line_error(err, "test")
        assert f"ValueError: '{path}': not a Lightning checkpoint (" in line and reason in line
    assert not marker.exists()


@pytest.mark.parametrize("given", ["best", "last", "hpc", "registry", "registry:some-model"])
def test_lightning_keywords_are_refused(given, run, capsys):
    """`registry` would download from Lightning's model registry; `last`, `best`, `hpc` pick a
    file other than the one named."""
    rc = main(["test", "--config", str(run["config"]), "--ckpt_path", given])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"--ckpt_path '{given}': give the checkpoint file's path" in _one_line_error(err,
                                                                                         "test")


def test_the_checkpoint_does_not_choose_the_class(tmp_path, run, monkeypatch, capsys):
    """Lightning merged the checkpoint's hyper_parameters over the config, _class_path
    included, and imported the module it names. A checkpoint of another class is refused
    naming both, and its module is never imported."""
    module = "pds_module_a_checkpoint_names"
    (tmp_path / f"{module}.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w').close()\n"
        "from pdesurrogate.training import NextStepModule as Module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ckpt = torch.load(run["ckpt"], weights_only=True)
    ckpt["hyper_parameters"]["_class_path"] = f"{module}.Module"
    other = tmp_path / "other.ckpt"
    torch.save(ckpt, other)
    rc = main(["test", "--config", str(run["config"]), "--ckpt_path", str(other),
               "--trainer.default_root_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert not (tmp_path / "imported").exists() and module not in sys.modules
    assert rc == 2, err
    assert (f"--ckpt_path '{other}' was written by a {module}.Module (its hyper_parameters' "
            "_class_path), but the config builds a pdesurrogate.training.NextStepModule; test "
            "with the config the checkpoint was trained with") in _one_line_error(err, "test")
    # another name of the checkpoint's own class (where it is defined, not re-exported) is it
    cfg = yaml.safe_load(run["config"].read_text())
    assert cfg["model"]["class_path"] == "pdesurrogate.training.NextStepModule"
    cfg["model"]["class_path"] = "pdesurrogate.training.next_step.NextStepModule"
    (tmp_path / "same_class.yaml").write_text(yaml.safe_dump(cfg))
    rc = main(["test", "--config", str(tmp_path / "same_class.yaml"), "--ckpt_path",
               str(run["ckpt"])])
    assert rc == 0, capsys.readouterr().err


def test_the_command_line_wins_over_the_checkpoints_hyperparameters(tmp_path, run, capsys):
    """A resumed fit with --model.init_args.lr runs with that lr (Lightning's merge put the
    checkpoint's hyper_parameters over the command line)."""
    ckpt = torch.load(run["ckpt"], weights_only=True)
    assert ckpt["hyper_parameters"]["lr"] != 0.123
    ckpt["hyper_parameters"]["lr"] = 0.123
    edited = tmp_path / "edited.ckpt"
    torch.save(ckpt, edited)
    rc = main(["fit", "--config", str(run["config"]), "--ckpt_path", str(edited),
               "--trainer.max_epochs", "2", "--model.init_args.lr", "0.002"])
    err = capsys.readouterr().err
    assert rc == 0, err
    folder = next(line for line in err.splitlines() if line.startswith("fit: run folder "))
    folder = Path(folder.removeprefix("fit: run folder ").split(";")[0])
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert saved["model"]["init_args"]["lr"] == 0.002
    assert saved["weights_only"] is True


def test_a_fit_writes_its_checkpoints_without_tmpdir(tmp_path, run, monkeypatch, capsys):
    """Lightning wrote a checkpoint into $TMPDIR and moved it: across filesystems a copy into
    last.ckpt, which a kill leaves truncated. Here $TMPDIR does not exist, so any use of it
    fails the fit; the saved config names the writer, once after a resume."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no_tmpdir"))
    root = tmp_path / "runs"
    assert main(["fit", "--config", CONFIG, *_tiny(str(run["data"]), root)]) == 0, \
        capsys.readouterr().err
    folder = root / "csv" / "version_0"
    names = sorted(p.name for p in (folder / "checkpoints").iterdir())
    assert "last.ckpt" in names and all(n.endswith(".ckpt") for n in names), names
    plugins = yaml.safe_load((folder / "config.yaml").read_text())["trainer"]["plugins"]
    assert plugins == [{"class_path": "pdesurrogate.training.checkpoint_io.AtomicCheckpointIO"}]
    rc = main(["fit", "--config", str(folder / "config.yaml"), "--ckpt_path",
               str(folder / "checkpoints" / "last.ckpt"), "--trainer.max_epochs", "2"])
    assert rc == 0, capsys.readouterr().err
    resumed = yaml.safe_load((root / "csv" / "version_1" / "config.yaml").read_text())
    assert resumed["trainer"]["plugins"] == plugins


@pytest.mark.parametrize("subcommand", ["test", "fit"])
def test_a_checkpoint_of_a_model_built_otherwise_is_refused(subcommand, tmp_path, run, capsys):
    """The checkpoint records the spec its network was built with; a config that builds it
    with other arguments is refused naming each one (weights of the wrong shape fail anyway,
    but arguments that hold no weights, as a CAPE module's padding_mode, would load the
    weights into another function), and a spec the checkpoint cannot have come from is named."""
    ckpt = torch.load(run["ckpt"], weights_only=True)
    spec = ckpt["hyper_parameters"]["model_spec"]
    assert spec["class"] == "fno" and spec["init_args"]["grid_embedding"] is True
    spec["init_args"]["grid_embedding"] = False
    other = tmp_path / "other.ckpt"
    torch.save(ckpt, other)
    extra = ["--trainer.max_epochs", "2"] if subcommand == "fit" else []
    rc = main([subcommand, "--config", str(run["config"]), "--ckpt_path", str(other),
               "--trainer.default_root_dir", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert (f"--ckpt_path '{other}' holds a model built with other arguments than the "
            "config's (init_args.grid_embedding: False in the checkpoint, True in the config); "
            "set them as the checkpoint has them") in _one_line_error(err, subcommand)
    spec["class"] = "nope"
    torch.save(ckpt, other)
    rc = main([subcommand, "--config", str(run["config"]), "--ckpt_path", str(other),
               "--trainer.default_root_dir", str(tmp_path / "out"), *extra])
    assert rc == 2
    assert (f"--ckpt_path '{other}': its hyper_parameters' model_spec.class: unknown model "
            "'nope'") in _one_line_error(capsys.readouterr().err, subcommand)


def test_an_online_checkpoint_points_at_the_online_runs_model_section(tmp_path, run, capsys):
    """An online run's checkpoint (OUT/checkpoint/model.ckpt beside manifest.json) has an
    online config.yaml in OUT, which fit cannot run: the error points at its model section
    instead of offering it as --config."""
    out = tmp_path / "online_run"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "manifest.json").write_text("{}")
    (out / "config.yaml").write_text("trainers: 1\n")
    ckpt = torch.load(run["ckpt"], weights_only=True)
    ckpt["hyper_parameters"]["model_spec"]["init_args"]["hidden_channels"] = 32
    torch.save(ckpt, out / "checkpoint" / "model.ckpt")
    rc = main(["fit", "--config", str(run["config"]), "--ckpt_path",
               str(out / "checkpoint" / "model.ckpt"), "--trainer.max_epochs", "2",
               "--trainer.default_root_dir", str(tmp_path / "runs")])
    line = _one_line_error(capsys.readouterr().err, "fit")
    assert rc == 2
    assert line.endswith("(init_args.hidden_channels: 32 in the checkpoint, 8 in the config); "
                         "set them as the checkpoint has them (under model.init_args.model: "
                         "--model.init_args.model.init_args.hidden_channels 32), "
                         f"or fit with a config whose model section is the online run's "
                         f"({out / 'config.yaml'})"), line
