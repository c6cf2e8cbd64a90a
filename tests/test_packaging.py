"""The wheel and the sdist, built from a clean copy of the source tree (in-tree builds leave
build/ behind, whose stale files can leak into later wheels).

The wheel must hold every module of the four source folders (solvers/, datasets/, streaming/
install as pdesurrogate.*), the shipped configs, py.typed and the licence; the sdist must hold
what distributions build and test from: the tests (conftest.py and every subfolder), configs,
examples, slurm, scripts, benchmarks, Makefile, LICENSE.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# source folder -> where its modules go in the wheel
SOURCES = {"pdesurrogate": "pdesurrogate", "solvers": "pdesurrogate/solvers",
           "datasets": "pdesurrogate/datasets", "streaming": "pdesurrogate/streaming"}
# top-level folders and files the sdist carries whole
SDIST_EXTRAS = ("tests", "configs", "examples", "slurm", "scripts", "benchmarks", "Makefile",
                "LICENSE")
# not sources: outputs of builds, runs and tools in a working tree
JUNK = {".git", ".venv", "build", "dist", "runs", "lightning_logs", ".pytest_cache",
        ".ruff_cache", "__pycache__"}


def source_files() -> list[str]:
    """The files of the working tree that are sources: git's list (tracked, and untracked
    but not ignored) in a checkout; else (an unpacked sdist) every file but build output."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
            capture_output=True, text=True, check=True, timeout=60).stdout
        return [f for f in listed.split("\0") if f and (ROOT / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()
                and not JUNK & set(p.relative_to(ROOT).parts)
                and not any(part.endswith(".egg-info") for part in p.parts)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(source file list, wheel, sdist), built with setuptools' PEP 517 hooks, as pip does."""
    tmp = tmp_path_factory.mktemp("packaging")
    src, dist = tmp / "src", tmp / "dist"
    files = source_files()
    for f in files:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    dist.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
         "out = sys.argv[1]; b.build_wheel(out); b.build_sdist(out)", str(dist)],
        cwd=src, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,), (sdist,) = dist.glob("*.whl"), dist.glob("*.tar.gz")
    return files, wheel, sdist


def test_wheel_holds_every_module_the_configs_py_typed_and_the_licence(built):
    files, wheel, _ = built
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(z.read(f"{info}/METADATA").decode())
        licence = z.read(f"{info}/licenses/LICENSE")
        top_level = z.read(f"{info}/top_level.txt").decode().split()
    modules = {f"{SOURCES[Path(f).parts[0]]}/{Path(*Path(f).parts[1:]).as_posix()}"
               for f in files if f.endswith(".py") and Path(f).parts[0] in SOURCES}
    assert "pdesurrogate/solvers/__init__.py" in modules  # the mapping above is right
    # every module, and no other (a stale build/ would add removed ones)
    assert {n for n in names if n.endswith(".py")} == modules
    configs = {f"pdesurrogate/{f}" for f in files
               if f.startswith("configs/") and f.endswith(".yaml")}
    assert len(configs) > 10 and configs <= names, sorted(configs - names)
    assert "pdesurrogate/py.typed" in names
    assert licence == (ROOT / "LICENSE").read_bytes()
    assert b"Apache License" in licence and b"Version 2.0, January 2004" in licence
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert top_level == ["pdesurrogate"]  # never bare solvers/datasets/streaming


def test_sdist_holds_the_tests_configs_and_the_rest_of_the_repository(built):
    files, _, sdist = built
    with tarfile.open(sdist) as t:
        top = t.getnames()[0].split("/")[0]
        names = {n.removeprefix(f"{top}/") for n in t.getnames()}
    assert {"tests/conftest.py", "tests/solvers/test_contract.py", "LICENSE",
            "configs/fit/fno_burgers.yaml", "pyproject.toml", "README.md"} <= names
    wanted = {f for f in files if f.split("/")[0] in SDIST_EXTRAS}
    assert len(wanted) > 100 and wanted <= names, sorted(wanted - names)
    assert not any("__pycache__" in n for n in names)


# run against the installed wheel: `pdesurrogate configs`, its --path and its --copy
INSTALLED_CONFIGS = """
import sys
import pdesurrogate
from pdesurrogate.cli import main
print(pdesurrogate.__file__)
for argv in (["configs"], ["configs", "--path", "fit/fno_burgers"],
             ["configs", "--copy", sys.argv[1]]):
    assert main(argv) == 0, argv
"""


def test_installed_wheel_lists_finds_and_copies_its_configs(built, tmp_path):
    """The configs as a pip user has them: package data of the namespace package
    pdesurrogate.configs inside the installed wheel, with no checkout anywhere near."""
    _, wheel, _ = built
    site, copy = tmp_path / "site", tmp_path / "copy"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--no-compile", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=120)
    proc = subprocess.run([sys.executable, "-c", INSTALLED_CONFIGS, str(copy)], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == str(site / "pdesurrogate" / "__init__.py"), lines[0]
    repo = sorted((ROOT / "configs").glob("*/*.yaml"))
    listed = {ln.split(" ")[0] for ln in lines}
    assert {f"{p.parent.name}/{p.stem}" for p in repo} <= listed, proc.stdout
    fno = site / "pdesurrogate" / "configs" / "fit" / "fno_burgers.yaml"
    assert str(fno) in lines and fno.read_bytes() == (
        ROOT / "configs" / "fit" / "fno_burgers.yaml").read_bytes(), proc.stdout
    copied = sorted(p for p in (copy / "configs").rglob("*") if p.is_file())
    assert copied == [copy / "configs" / p.parent.name / p.name for p in repo]
    assert all(c.read_bytes() == p.read_bytes() for c, p in zip(copied, repo, strict=True))
