"""``pdesurrogate configs``: the YAML configs ship with the package (a pip user has no
``configs/`` folder) and the command lists them, prints one's path, or copies them out; a
``--config configs/...`` that does not exist says where they are."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pdesurrogate.cli import main
from pdesurrogate.shipped_configs import description, shipped_configs

ROOT = Path(__file__).resolve().parents[1]
REPO_CONFIGS = sorted((ROOT / "configs").glob("*/*.yaml"))


def test_help_lists_the_configs_command(capsys):
    assert main(["--help"]) == 0
    assert "\n    configs " in capsys.readouterr().out


def test_every_config_of_the_repository_ships():
    assert REPO_CONFIGS  # the checkout's configs/ folder
    shipped = {c.key: c for c in shipped_configs()}
    assert sorted(shipped) == [f"{p.parent.name}/{p.stem}" for p in REPO_CONFIGS]
    for path in REPO_CONFIGS:
        assert shipped[f"{path.parent.name}/{path.stem}"].file.read_bytes() == path.read_bytes()


def test_listing_names_each_config_with_the_start_of_its_comment(capsys):
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    for path in REPO_CONFIGS:
        first = path.read_text().splitlines()[0].lstrip("#").strip()
        (line,) = [ln for ln in out.splitlines()
                   if ln.split(" ")[0] == f"{path.parent.name}/{path.stem}"]
        described = line.split(maxsplit=1)[1]
        assert first.startswith(described.removesuffix(".")) and len(described) > 10, line
    assert "pdesurrogate configs --copy ." in out


# the PDE a fit/online config trains on, by a word of its name
PDES = {"burgers": "Burgers", "ks": "Kuramoto-Sivashinsky", "ns": "Navier-Stokes",
        "allen": "AllenCahn", "poisson": "Poisson", "sine": "SineGordon",
        "heat2d": "heat", "advection": "advection",
        "darcy": "Darcy"}


def test_descriptions_tell_the_configs_apart_and_name_what_they_train_on():
    """The listing is how a user picks a config: no two may read the same (two sizes of one
    model did), and a fit or online one names its PDE (not only "Online training")."""
    configs = shipped_configs()
    described = {c.key: c.description.rstrip(".") for c in configs}
    assert len(set(described.values())) == len(configs), described
    for cfg in configs:
        assert len(described[cfg.key].split()) >= 3, (cfg.key, described[cfg.key])
        if cfg.kind != "data":
            (pde,) = [PDES[w] for w in cfg.name.split("_") if w in PDES]
            assert pde in described[cfg.key], (cfg.key, described[cfg.key])


def test_description_is_the_first_sentence_of_the_opening_comment():
    assert description("# One thing. Data: elsewhere\n# Run: this\nkey: 1\n") == "One thing."
    # a sentence that runs on to the next line is cut before its last colon
    assert description("# Model on PDE: details that go\n# on and on.\nkey: 1\n") == "Model on PDE"
    assert description("# Whole line, ends here.\n# More.\n") == "Whole line, ends here."
    assert description("key: 1\n# late comment\n") == ""


def test_a_checkout_without_any_install_ships_its_configs(tmp_path):
    """No editable install, no wheel: the checkout on the import path (``-S`` keeps
    site-packages and its editable finder out) gives its configs/ folder as
    pdesurrogate.configs."""
    code = ("from pdesurrogate.shipped_configs import shipped_configs\n"
            "for c in shipped_configs(): print(c.key, c.file)")
    proc = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"{p.parent.name}/{p.stem} {p}" for p in REPO_CONFIGS]


def test_path_prints_the_installed_file(capsys):
    for key in ("fit/fno_burgers", "configs/fit/fno_burgers.yaml"):
        assert main(["configs", "--path", key]) == 0
        path = Path(capsys.readouterr().out.strip())
        assert path.read_bytes() == (ROOT / "configs" / "fit" / "fno_burgers.yaml").read_bytes()
    assert main(["configs", "--path", "fit/fno_burger"]) == 2
    err = capsys.readouterr().err
    assert "no shipped config 'fit/fno_burger'" in err and "fit/fno_burgers" in err, err


def test_copy_writes_them_all_and_never_replaces_a_file_unasked(tmp_path, capsys):
    assert main(["configs", "--copy", str(tmp_path)]) == 0
    written = sorted((tmp_path / "configs").rglob("*"))
    assert [p for p in written if p.is_file()] == [
        tmp_path / "configs" / p.parent.name / p.name for p in REPO_CONFIGS]
    for path in REPO_CONFIGS:
        assert (tmp_path / "configs" / path.parent.name / path.name).read_bytes() == \
            path.read_bytes()
    assert f"wrote {len(REPO_CONFIGS)} configs to {tmp_path / 'configs'}{os.sep}" in (
        capsys.readouterr().out)
    # again: nothing to write, and it says so rather than 'wrote 19'
    assert main(["configs", "--copy", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"wrote 0 configs to {tmp_path / 'configs'}{os.sep}; {len(REPO_CONFIGS)} already "
        "there, identical")

    mine = tmp_path / "configs" / "fit" / "fno_burgers.yaml"
    mine.write_text("# my edits\n")
    (tmp_path / "configs" / "data" / "advection1d.yaml").unlink()
    assert main(["configs", "--copy", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err and "nothing was written" in err, err
    assert mine.read_text() == "# my edits\n"  # kept, and nothing else written either
    assert not (tmp_path / "configs" / "data" / "advection1d.yaml").exists()

    assert main(["configs", "--copy", str(tmp_path), "--overwrite"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"wrote 2 configs to {tmp_path / 'configs'}{os.sep} (data/, fit/); "
        f"{len(REPO_CONFIGS) - 2} already there, identical")
    assert mine.read_bytes() == (ROOT / "configs" / "fit" / "fno_burgers.yaml").read_bytes()
    assert (tmp_path / "configs" / "data" / "advection1d.yaml").exists()
    # written under temporary names, then renamed: none left behind
    assert [p.name for p in (tmp_path / "configs").rglob(".*")] == []


def test_an_interrupted_copy_completes_when_run_again(tmp_path, capsys):
    """A copy killed midway (some files written, a temporary left by the dead process) is
    completed by the same command: files identical to the shipped ones are no conflict, the
    dead process's temporary goes (said in a warning); an edited file still stops it."""
    import re
    import socket

    from pdesurrogate.shipped_configs import copy_configs

    assert main(["configs", "--copy", str(tmp_path)]) == 0
    capsys.readouterr()
    base = tmp_path / "configs"
    gone = [base / "data" / "advection1d.yaml", base / "online" / REPO_CONFIGS[-1].name]
    for p in gone:
        p.unlink()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32]
    left = gone[0].with_name(f".{gone[0].name}.{host}.{dead.pid}.0123456789abcdef.tmp")
    left.write_text("# half a fi")
    with pytest.warns(UserWarning, match=rf"removed .*{left.name}.*process {dead.pid}"):
        copy_configs(tmp_path)
    for path in REPO_CONFIGS:
        assert (base / path.parent.name / path.name).read_bytes() == path.read_bytes()
    assert [p.name for p in base.rglob(".*")] == []

    mine = base / "fit" / "fno_burgers.yaml"
    mine.write_text("# my edits\n")
    gone[0].unlink()
    assert main(["configs", "--copy", str(tmp_path)]) == 2
    assert "fno_burgers.yaml' exists (a file with other content)" in capsys.readouterr().err
    assert mine.read_text() == "# my edits\n" and not gone[0].exists()


def test_copy_never_writes_through_a_link_planted_at_a_temporary_name(tmp_path):
    """The temporary names are random and created exclusively: a link planted at the
    predictable name of before (``.NAME.yaml.tmp-<pid>``) is not written through."""
    from pdesurrogate.shipped_configs import copy_configs

    victim = tmp_path / "victim"
    victim.write_text("precious")
    folder = tmp_path / "configs" / "fit"
    folder.mkdir(parents=True)
    (folder / f".fno_burgers.yaml.tmp-{os.getpid()}").symlink_to(victim)
    copy_configs(tmp_path)
    assert victim.read_text() == "precious"
    copied = folder / "fno_burgers.yaml"
    assert not copied.is_symlink()
    assert copied.read_bytes() == (ROOT / "configs" / "fit" / "fno_burgers.yaml").read_bytes()


def test_overwrite_needs_copy():
    with pytest.raises(SystemExit) as exit_:
        main(["configs", "--overwrite"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("command", ["generate", "fit", "online"])
def test_a_missing_config_under_configs_points_to_the_shipped_ones(command, tmp_path,
                                                                  monkeypatch, capsys):
    """What a pip user gets for the README's commands in a folder without configs/."""
    monkeypatch.chdir(tmp_path)
    kind = {"generate": "data"}.get(command, command)
    assert main([command, "--config", f"configs/{kind}/burgers1d.yaml"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"pdesurrogate {command}: error: ") and "does not exist" in err[0]
    assert err[1].startswith("the configs ship with the package: pdesurrogate configs --copy "
                             ". writes them to ./configs/"), err
    # any other missing file: no hint
    assert main([command, "--config", "elsewhere/burgers1d.yaml"]) == 2
    assert "pdesurrogate configs" not in capsys.readouterr().err


@pytest.mark.parametrize("configs", ["none", "empty"])
def test_missing_configs_are_one_clear_error(tmp_path, configs):
    """A copy of pdesurrogate without its configs (a checkout without configs/, or with an
    empty one; likewise an install without its package data) says what is missing and what
    to do, as one line of `pdesurrogate configs`, not a ModuleNotFoundError traceback."""
    import shutil

    for name in ("pdesurrogate", "solvers", "datasets", "streaming"):
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    if configs == "empty":
        (tmp_path / "configs" / "fit").mkdir(parents=True)
    code = "import sys\nfrom pdesurrogate.cli import main\nsys.exit(main(['configs']))\n"
    # -S: no site-packages, so no editable finder maps pdesurrogate.configs to this checkout
    proc = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)}, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.splitlines()
    assert err[0].startswith("pdesurrogate configs: error: ConfigsMissingError: the shipped "
                             "configs are missing (" + (
                                 "no package pdesurrogate.configs" if configs == "none"
                                 else f"pdesurrogate.configs ({tmp_path / 'configs'}) holds "
                                 "no {data,fit,online}/*.yaml") + "): "), err
    assert "pip install --force-reinstall pdesurrogate" in err[0]
    assert f"restore its configs/ folder beside pdesurrogate/ ({tmp_path / 'configs'})" in err[0]
    assert "Traceback" not in proc.stderr and len(err) == 2, err
