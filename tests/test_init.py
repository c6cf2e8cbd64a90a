"""``import pdesurrogate``: light, and its documented subpackages reachable as attributes."""

import subprocess
import sys

import pdesurrogate

SUBPACKAGES = ("solvers", "datasets", "streaming", "models", "training", "pinn")


def test_subpackages_are_attributes_and_the_import_stays_light():
    """In a fresh interpreter, `import pdesurrogate` loads no torch, and `pdesurrogate.<sub>`
    imports each subpackage the package docstring lists on first access (it raised
    AttributeError without an explicit `import pdesurrogate.<sub>`)."""
    code = ("import sys, pdesurrogate as ps\n"
            "assert 'torch' not in sys.modules, 'import pdesurrogate loaded torch'\n"
            f"for name in {SUBPACKAGES!r}:\n"
            "    mod = getattr(ps, name)\n"
            "    assert mod is sys.modules['pdesurrogate.' + name], name\n"
            "print('ok')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and run.stdout == "ok\n", run.stderr[-2000:]
    for name in SUBPACKAGES:
        assert f"``{name}``" in pdesurrogate.__doc__ and name in dir(pdesurrogate)


def test_a_checkout_root_imports_its_own_subpackages(tmp_path):
    """Python started in a source checkout's root (pdesurrogate/ beside solvers/, datasets/,
    streaming/, mapped in by pyproject only at install) imports `pdesurrogate.solvers` etc.
    from that checkout, as it does `pdesurrogate` itself. Without the mapping they were not
    found there, or came from the tree the editable install points to (mixing two trees)."""
    import shutil
    from pathlib import Path

    root = Path(pdesurrogate.__file__).resolve().parent.parent
    for name in ("pdesurrogate", "solvers", "datasets", "streaming"):
        shutil.copytree(root / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import pdesurrogate, pdesurrogate.solvers as s, pdesurrogate.datasets as d, "
            "pdesurrogate.streaming as st\n"
            "for m in (pdesurrogate, s, d, st): print(m.__file__)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    files = run.stdout.split()
    assert len(files) == 4 and all(f.startswith(str(tmp_path)) for f in files), files
