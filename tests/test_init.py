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
