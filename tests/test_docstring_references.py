"""Every cross-reference a newcomer may follow leads somewhere.

Docstrings: each Sphinx role (``:func:``, ``:class:``, ``:meth:``, ``:mod:``, ``:data:``,
``:attr:``, ``:exc:``, with ``~``/``!``) in a module, class or function docstring of
``pdesurrogate``, ``pdesurrogate.solvers``, ``pdesurrogate.datasets`` and
``pdesurrogate.streaming`` names an object that exists: a dotted name by import (ours must
name the module that defines it, or a package that offers it publicly, not a module that
merely imports it), a bare or ``.relative`` name in the docstring's own module (its globals,
then the enclosing classes; ``.a.b`` also relative to the module's package, as an import).
README.md: every ``pdesurrogate.<dotted>`` name in backticks resolves and every repository
path in backticks exists.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import pkgutil
import re
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pdesurrogate", "pdesurrogate.solvers", "pdesurrogate.datasets",
            "pdesurrogate.streaming")
ROLE = re.compile(r":(func|class|meth|mod|data|attr|exc):`([^`]+)`")
# third-party libraries a docstring may cite by dotted name: checked by import where installed
# (ours are always checked)
LIBRARIES = ("torch", "lightning", "neuralop", "numpy", "mpi4py", "h5py", "xarray",
             "safetensors", "rich")

# stale references excused for a while, (module, role, target as written), e.g. in a module
# being rewritten; test_expected_stale_list_is_still_stale keeps it from outliving them
EXPECTED_STALE: set[tuple[str, str, str]] = set()


def _walk(package: str) -> tuple[list[types.ModuleType], list[str]]:
    # only the package's own folder: in a checkout pdesurrogate.__path__ also holds the
    # repository root (for solvers/, datasets/, ...), which the other PACKAGES cover
    pkg = importlib.import_module(package)
    modules, failures = [pkg], []
    folder = str(Path(pkg.__file__).parent)
    for info in pkgutil.iter_modules([folder], package + "."):
        try:
            module = importlib.import_module(info.name)
        except Exception as exc:  # noqa: BLE001 - every failure is reported by name
            failures.append(f"{info.name}: cannot import ({type(exc).__name__}: {exc})")
            continue
        if info.ispkg:
            sub_modules, sub_failures = _walk(info.name)
            modules += sub_modules
            failures += sub_failures
        else:
            modules.append(module)
    return modules, failures


@functools.cache
def _all_modules() -> tuple[list[types.ModuleType], list[str]]:
    modules, failures = [], []
    for package in PACKAGES:
        found, failed = _walk(package)
        modules += found
        failures += failed
    return modules, failures


@functools.cache
def _tree(path: str) -> ast.Module:
    return ast.parse(Path(path).read_text(encoding="utf-8"))


def _docstrings(module: types.ModuleType):
    """``(line, text, class_path)`` of each docstring in ``module``'s source; ``class_path``
    is the names of the classes enclosing it (outermost first)."""
    tree = _tree(module.__file__)

    def visit(node, classes):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            yield body[0].value.lineno, body[0].value.value, classes
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                yield from visit(child, classes + [child.name])
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                # a function's own locals are out of reach: its classes stay the context
                yield from visit(child, classes)
            elif not isinstance(child, (ast.Expr, ast.Constant)):
                yield from visit(child, classes)

    yield from visit(tree, [])


_MISSING = object()


def _import_path(dotted: str, role: str = ""):
    """The object ``dotted`` names by import and the object it was read from, or
    ``(_MISSING, None)``."""
    parts = dotted.split(".")
    try:
        obj = importlib.import_module(parts[0])
    except ImportError:
        return _MISSING, None
    parent = None
    for i, part in enumerate(parts[1:], start=2):
        parent = obj
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif isinstance(obj, types.ModuleType):
            try:
                obj = importlib.import_module(f"{obj.__name__}.{part}")
            except ImportError:
                return _MISSING, None
        elif i == len(parts) and role in ("attr", "data") and isinstance(obj, type) \
                and _instance_attribute(obj, part):
            return obj, obj
        else:
            return _MISSING, None
    return obj, parent


@functools.cache
def _instance_attribute(cls: type, name: str) -> bool:
    # what getattr on the class cannot see: annotations, dataclass fields, slots, self.x = ...
    for klass in cls.__mro__:
        if name in getattr(klass, "__annotations__", {}) or name in getattr(
                klass, "__slots__", ()):
            return True
    if dataclasses.is_dataclass(cls) and name in {f.name for f in dataclasses.fields(cls)}:
        return True
    for klass in cls.__mro__:
        if klass.__module__.startswith("pdesurrogate"):
            try:
                source = inspect.getsource(klass)
            except (OSError, TypeError):
                continue
            if re.search(rf"\bself\.{re.escape(name)}\s*(:[^=\n]*)?=", source):
                return True
    return False


def _get_chain(obj, parts: list[str], role: str):
    parent = None
    for i, part in enumerate(parts):
        parent = obj
        try:
            obj = getattr(obj, part)
        except AttributeError:
            last = i == len(parts) - 1
            if last and role in ("attr", "data") and isinstance(obj, type) \
                    and _instance_attribute(obj, part):
                return obj, parent
            return _MISSING, None
    return obj, parent


def _homeless(obj, parent) -> str | None:
    """Why ``parent.<name>`` is not where ``obj`` lives, or None: an object of ours read from a
    plain module that only imports it (a package may offer public names of its modules)."""
    if not isinstance(parent, types.ModuleType):
        return None
    home = getattr(obj, "__module__", None)
    if isinstance(obj, types.ModuleType) or not isinstance(home, str) \
            or not home.startswith("pdesurrogate") or home == parent.__name__:
        return None
    name = getattr(obj, "__name__", "")
    is_package = hasattr(parent, "__path__")
    if is_package and not name.startswith("_"):
        return None
    return f"defined in {home}"


@functools.cache
def _type_checking_imports(module: types.ModuleType) -> dict[str, str]:
    """Names ``module`` imports under ``if TYPE_CHECKING:``, to the dotted paths they name: a
    reader finds them at the top of the file, though they are not globals at run time."""
    tree = _tree(module.__file__)
    names = {}
    for node in tree.body:
        if not (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)):
            continue
        for stmt in ast.walk(node):
            if isinstance(stmt, ast.ImportFrom):
                base = stmt.module or ""
                if stmt.level:
                    package = module.__package__.split(".")
                    base = ".".join(package[:len(package) - stmt.level + 1] + [base]).strip(".")
                for alias in stmt.names:
                    names[alias.asname or alias.name] = f"{base}.{alias.name}"
            elif isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    names[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0])
    return names


def _resolve(target: str, role: str, module: types.ModuleType, classes: list[str]):
    """None when ``target`` resolves from ``module`` (inside ``classes``), else why not."""
    name = target.lstrip("~!").removesuffix("()")
    dots = len(name) - len(name.lstrip("."))
    name = name.lstrip(".")
    parts = name.split(".")
    # the enclosing classes, innermost first, then the module and the builtins
    scopes = []
    for depth in range(len(classes), 0, -1):
        obj, _ = _get_chain(module, classes[:depth], "class")
        if obj is not _MISSING:
            scopes.append(obj)
    candidates = []
    for scope in scopes:
        if hasattr(scope, parts[0]):
            candidates.append(_get_chain(scope, parts, role))
        elif len(parts) == 1 and role in ("attr", "data") and _instance_attribute(scope,
                                                                                   parts[0]):
            candidates.append((scope, None))
    typing_only = _type_checking_imports(module)
    if hasattr(module, parts[0]):  # its globals, or a name its __getattr__ loads lazily
        candidates.append(_get_chain(module, parts, role))
    elif parts[0] in typing_only:
        candidates.append(_import_path(".".join([typing_only[parts[0]]] + parts[1:]), role))
    elif hasattr(builtins, parts[0]):
        candidates.append(_get_chain(builtins, parts, role))
    if dots and module.__package__:
        # as a relative import: one dot is the module's package, each further dot its parent
        package = module.__package__.split(".")
        if dots <= len(package):
            candidates.append(
                _import_path(".".join(package[:len(package) - dots + 1] + parts), role))
    if not dots and len(parts) > 1:
        candidates.append(_import_path(name, role))
    found = [(obj, parent) for obj, parent in candidates if obj is not _MISSING]
    if not found and parts[0] in LIBRARIES and importlib.util.find_spec(parts[0]) is None:
        return None  # not installed here: nothing to follow it into
    if not found:
        return "names nothing"
    obj, parent = found[0]
    if role == "mod" and not isinstance(obj, types.ModuleType):
        return "is not a module"
    if role != "mod" and isinstance(obj, types.ModuleType):
        return "is a module (use :mod:)"
    if parent is module:  # a bare name: an import at the top of the file leads on
        return None
    return _homeless(obj, parent)


def _where_defined(name: str, modules: list[types.ModuleType]) -> list[str]:
    last = name.lstrip("~!.").removesuffix("()").split(".")
    homes = []
    for module in modules:
        obj = vars(module).get(last[0], _MISSING)
        if obj is _MISSING:
            continue
        if getattr(obj, "__module__", module.__name__) != module.__name__:
            continue
        obj, _ = _get_chain(module, last, "data")
        if obj is not _MISSING:
            homes.append(f"{module.__name__}.{'.'.join(last)}")
    return homes


def test_every_module_imports():
    _, failures = _all_modules()
    assert not failures, "\n".join(failures)


def _stale_references() -> list[tuple[tuple[str, str, str], str]]:
    """Each docstring reference that names nothing, or names an import rather than a home:
    ``((module, role, target), message)``."""
    modules, _ = _all_modules()
    stale = []
    for module in modules:
        for line, text, classes in _docstrings(module):
            for match in ROLE.finditer(text):
                role, target = match.group(1), "".join(match.group(2).split())
                if "<" in target:  # :func:`title <target>`
                    target = target[target.index("<") + 1:target.rindex(">")]
                why = _resolve(target, role, module, classes)
                if why is None:
                    continue
                at = line + text[:match.start()].count("\n")
                homes = _where_defined(target, modules)
                hint = f" (defined as {', '.join(homes)})" if homes else ""
                rel = Path(module.__file__).resolve().relative_to(ROOT)
                stale.append(((module.__name__, role, target),
                              f"{rel}:{at}: :{role}:`{target}` {why}{hint}"))
    return stale


def test_docstring_references_resolve():
    stale = [message for key, message in _stale_references() if key not in EXPECTED_STALE]
    assert not stale, f"{len(stale)} stale references:\n" + "\n".join(stale)


def test_expected_stale_list_is_still_stale():
    # the allow-list must not outlive what it excuses
    fixed = EXPECTED_STALE - {key for key, _ in _stale_references()}
    assert not fixed, f"these resolve now, remove them from EXPECTED_STALE: {sorted(fixed)}"


def _readme_code() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)
    inline = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.M | re.S)
    return blocks + re.findall(r"`([^`\n]+)`", inline)


def test_readme_pdesurrogate_names_resolve():
    missing = set()
    for code in _readme_code():
        for name in re.findall(r"(?<![\w./-])pdesurrogate(?:\.[A-Za-z_]\w*)+", code):
            obj, parent = _import_path(name)
            if obj is _MISSING:
                missing.add(f"{name}: names nothing")
            elif (why := _homeless(obj, parent)) is not None:
                missing.add(f"{name}: {why}")
    assert not missing, "README.md:\n" + "\n".join(sorted(missing))


# the repository's own top-level folders; other first components (data/, runs/, OUT/) are
# what a command writes, not repository paths
_REPO_FOLDERS = ("pdesurrogate", "solvers", "datasets", "streaming", "configs", "slurm",
                 "benchmarks", "tests", "examples", "scripts")


def test_readme_repository_paths_exist():
    missing = set()
    pattern = re.compile(rf"(?<![\w./<>-])(?:\./)?((?:{'|'.join(_REPO_FOLDERS)})/[\w./*-]*)")
    for code in _readme_code():
        for path in pattern.findall(code):
            path = path.removesuffix(".").removesuffix("...")
            if not list(ROOT.glob(path.rstrip("/"))):
                missing.add(path)
    assert not missing, "README.md names repository paths that do not exist:\n" + "\n".join(
        sorted(missing))
