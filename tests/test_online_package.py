"""The layout of ``pdesurrogate/online/``: the map in the package's docstring names each of its
modules, a module imports only from the modules before it in the map's order (no cycles), and
importing the package loads none of the libraries that only the parser, the ranks or the end of
a run need (each imports them when it runs)."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pdesurrogate.online as online

PACKAGE = Path(online.__file__).parent
# what `import pdesurrogate.online` (and so `pdesurrogate online --help`) must not load
LAZY = ("lightning", "jsonargparse", "yaml", "mpi4py", "rich", "matplotlib", "neuralop",
        "pdesurrogate.streaming", "pdesurrogate.training", "pdesurrogate.solvers")


def layer_order() -> list[str]:
    """The modules in the order the package's docstring gives for its imports."""
    doc = " ".join(online.__doc__.split())
    found = re.search(r"those before it in this list \(no cycles\): ([a-z_, ]+)\.", doc)
    assert found, "the package's docstring no longer states its import order"
    return [name.strip() for name in found.group(1).split(",")]


def test_the_packages_map_names_each_module_once():
    order = layer_order()
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert sorted(order) == modules, (order, modules)
    missing = [m for m in modules if f"``{m}.py``" not in online.__doc__]
    assert not missing, f"the map does not describe {missing}"


def test_a_module_imports_only_the_modules_before_it():
    order = layer_order()
    for i, name in enumerate(order):
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                targets = [node.module or ""]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if target == "pdesurrogate.online" or target.startswith("pdesurrogate.online."):
                    dep = target.removeprefix("pdesurrogate.online").lstrip(".")
                    assert dep in order[:i], (f"{name}.py imports {target}, which is not "
                                              f"before it in {order}")


def test_importing_the_package_loads_no_library_a_rank_imports_when_it_runs():
    code = ("import sys; import pdesurrogate.online; "
            f"print(sorted(m for m in {LAZY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]", out
