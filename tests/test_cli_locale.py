"""The commands where the text around them is not UTF-8: ``LC_ALL=C`` with Python's coercion
and UTF-8 mode off (``PYTHONCOERCECLOCALE=0 PYTHONUTF8=0``: text files, stdout and file names
are ASCII, names with ``é`` arrive as lone surrogates), ``PYTHONIOENCODING=ascii``, a latin-1
locale, and config files saved with a byte order mark or in latin-1.

In this test process (UTF-8) a file name as the ASCII locale gives it is a str with
surrogates: ``"\\udcce\\udcbd"`` is the two bytes of ``ν``, and names the same file here.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import matplotlib
import numpy as np
import pytest
import torch
import yaml

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from pdesurrogate.cli import main  # noqa: E402
from pdesurrogate.export_files import read_checkpoint  # noqa: E402
from pdesurrogate.online.summary import stream_figure  # noqa: E402
from pdesurrogate.plots import rollout_figure  # noqa: E402
from pdesurrogate.text_locale import yaml_load_escaped  # noqa: E402

NU = "\udcce\udcbd"  # "ν" as LC_ALL=C (no coercion) decodes its UTF-8 bytes
ETE = "\udcc3\udca9t\udcc3\udca9"  # "été" likewise
ASCII_LOCALE = {"LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}

GENERATE = """\ufeff# Burgers, \u03bd in [0.01, 0.1] \u2013 a tiny set
solver:
  class_path: burgers1d
  init_args: {n_points: 16, nu_range: [0.01, 0.1]}   # \u03bd range
samples: 2
t_end: 0.5
n_times: 2
out: tiny.nc
"""


def _run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """``python -m pdesurrogate ARGV`` with the locale variables of this process replaced
    by ``env``."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("LC_", "PYTHONIOENCODING", "PYTHONUTF8",
                                 "PYTHONCOERCECLOCALE")) and k != "LANG"}
    return subprocess.run([sys.executable, "-m", "pdesurrogate", *argv], cwd=cwd,
                          env={**base, **env}, capture_output=True, timeout=120)


def test_a_utf8_config_with_a_bom_under_the_ascii_locale(tmp_path):
    """A config with ``ν`` in its comments, saved with a byte order mark: before, under
    ``LC_ALL=C PYTHONCOERCECLOCALE=0 PYTHONUTF8=0`` generate read it as ASCII and failed with
    "UnicodeDecodeError: 'ascii' codec can't decode byte 0xef", naming no file."""
    (tmp_path / "gen.yaml").write_text(GENERATE, encoding="utf-8")
    proc = _run(["generate", "--config", "gen.yaml"], tmp_path, **ASCII_LOCALE)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(tmp_path / "tiny.nc") as f:
        assert f["u"].shape[:2] == (2, 2)


def test_a_latin1_config_is_one_error_naming_it(tmp_path, capsys):
    """Before: "pdesurrogate generate: error: UnicodeDecodeError: 'utf-8' codec can't decode
    byte 0xe9 in position 3", without the file's name."""
    config = tmp_path / "latin1.yaml"
    config.write_bytes(GENERATE.lstrip("\ufeff").replace("\u03bd", "nu").replace(
        "\u2013", "-").replace("a tiny set", "caf\u00e9").encode("latin-1"))
    for argv in (["--config", str(config)], [f"--config={config}"]):
        assert main(["generate", *argv, "--out", str(tmp_path / "x.nc")]) == 2
        err = capsys.readouterr().err
        assert f"pdesurrogate generate: error: config {str(config)!r} is not UTF-8 text (byte " \
               "0xe9 at line 1, column " in err, err
        assert "UnicodeDecodeError" not in err, err
    assert not (tmp_path / "x.nc").exists()


def test_a_non_ascii_output_name_under_the_ascii_locale(tmp_path, monkeypatch):
    """``generate --out data/ν.nc`` as LC_ALL=C hands it over: before, the history attribute
    (the command line, with the name) was refused by HDF5, "UnicodeEncodeError: 'utf-8' codec
    can't encode characters in position ...: surrogates not allowed", and no file written.
    The history now holds the name as it was typed."""
    (tmp_path / "data").mkdir()
    argv = ["generate", "--solver", "burgers1d", "--solver.init_args.n_points", "16",
            "--samples", "2", "--n_times", "2", "--t_end", "0.5",
            "--out", str(tmp_path / "data" / f"{NU}-burgers.nc")]
    monkeypatch.setattr(sys, "argv", ["pdesurrogate", *argv])  # what the history records
    assert main(argv) == 0
    with h5py.File(tmp_path / "data" / "\u03bd-burgers.nc") as f:
        assert "/data/\u03bd-burgers.nc" in f.attrs["history"], f.attrs["history"]


def test_a_non_ascii_path_given_as_a_yaml_value(tmp_path, data_file, capsys):
    """``fit --data.init_args.path data/ν.nc``: jsonargparse parses such a value as YAML,
    which refused the surrogates ("surrogates not allowed"); ``--print_config`` now shows the
    path as given."""
    folder = tmp_path / ETE
    folder.mkdir()
    shutil.copy(data_file, folder / "b.nc")
    config = Path(__file__).resolve().parents[1] / "configs" / "fit" / "fno_burgers.yaml"
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", str(config), "--data.init_args.path",
              str(folder / "b.nc"), "--print_config"])
    assert stop.value.code in (0, None)
    # the YAML it prints escapes the name's bytes (\uDCC3), and reads back as given
    printed = yaml_load_escaped(yaml.safe_load, capsys.readouterr().out)
    assert printed["data"]["init_args"]["path"] == str(folder / "b.nc")


@pytest.fixture
def data_file(tmp_path) -> Path:
    path = tmp_path / "plain.nc"
    assert main(["generate", "--solver", "burgers1d", "--solver.init_args.n_points", "16",
                 "--samples", "4", "--n_times", "2", "--t_end", "0.5", "--out",
                 str(path)]) == 0
    return path


def test_a_checkpoint_in_a_non_ascii_folder(tmp_path):
    """``export runs/été/.../last.ckpt`` under LC_ALL=C: torch's memory map took the
    name as UTF-8 and refused it ("not a Lightning checkpoint ('utf-8' codec can't encode
    characters ...: surrogates not allowed)")."""
    folder = tmp_path / ETE
    folder.mkdir()
    torch.save({"state_dict": {"w": torch.arange(3.0)}}, folder / "last.ckpt")
    ckpt = read_checkpoint(folder / "last.ckpt")
    assert torch.equal(ckpt["state_dict"]["w"], torch.arange(3.0))


def test_plot_titles_with_a_non_ascii_folder_name(tmp_path):
    """predict's plot is titled with the model folder's name and online.png with the run
    folder's: matplotlib refused lone surrogates ("set_text(): incompatible function
    arguments"), which failed predict --plot after its rollout and an online run's MPI job
    after training."""
    pred = np.zeros((1, 2, 1, 8), np.float32)
    out = tmp_path / "plot.png"
    rollout_figure(pred, pred, np.arange(2.0), np.zeros(2), out, title=f"burgers1d: {NU}-model")
    assert out.stat().st_size > 0
    hist = [{"step": 1, "stream/samples_per_s": 1.0, "stream/buffer_fill": 0.5,
             "trainer/idle_fraction": 0.0, "stream/seen_mean": 1.0, "stream/seen_max": 1.0}]
    fig = stream_figure(hist, f"online run {ETE}")
    try:
        fig.savefig(tmp_path / "online.png")
        assert fig._suptitle.get_text() == "online run \u00e9t\u00e9"
    finally:
        plt.close(fig)


def test_stdout_that_cannot_encode_a_name_escapes_it(tmp_path):
    """``configs --copy été`` with ``PYTHONIOENCODING=ascii``: the configs were written, then
    the line saying so raised UnicodeEncodeError and the command ended with status 2."""
    proc = _run(["configs", "--copy", "\u00e9t\u00e9"], tmp_path, LANG="C.UTF-8",
                PYTHONIOENCODING="ascii")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(b"wrote "), proc.stdout
    assert b"\\xe9t\\xe9" in proc.stdout, proc.stdout
    assert (tmp_path / "\u00e9t\u00e9" / "configs" / "fit" / "fno_burgers.yaml").exists()


def _latin1_locale(tmp_path: Path) -> str | None:
    """A LOCPATH folder holding fr_FR.ISO-8859-1, built with localedef; None without it."""
    if shutil.which("localedef") is None or not Path("/usr/share/i18n/locales/fr_FR").exists():
        return None
    folder = tmp_path / "locales"
    folder.mkdir()
    made = subprocess.run(["localedef", "-i", "fr_FR", "-f", "ISO-8859-1",
                           str(folder / "fr_FR.ISO-8859-1")], capture_output=True, timeout=60)
    return str(folder) if (folder / "fr_FR.ISO-8859-1").exists() or made.returncode == 0 \
        else None


def test_a_utf8_config_under_a_latin1_locale(tmp_path):
    """An en dash in a comment of a UTF-8 config, read in a latin-1 locale: one of its three
    bytes is a control character there, and YAML refused the config ("unacceptable character
    #x0080: control characters are not allowed")."""
    locpath = _latin1_locale(tmp_path)
    if locpath is None:
        pytest.skip("needs localedef and the fr_FR locale source")
    (tmp_path / "gen.yaml").write_text(GENERATE, encoding="utf-8")
    proc = _run(["generate", "--config", "gen.yaml"], tmp_path, LC_ALL="fr_FR.ISO-8859-1",
                LOCPATH=locpath)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "tiny.nc").exists()
