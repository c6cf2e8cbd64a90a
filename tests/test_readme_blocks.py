"""Every code block of README.md works as written, read from the README itself (an edit to a
block is what gets tested), and examples/README.md's commands name scripts and options that
exist.

- ``python`` blocks: each names only what exists (its imports, and the functions and methods
  it calls, with those arguments: :func:`check_python_names`), and each runs, in a subprocess
  in a folder holding the small files it reads at the paths it names (a tiny dataset, a tiny
  FNO and PINN export, sweep logs), followed by checks of what its comments say
  (:data:`PYTHON_BLOCKS`; a block whose run takes 10 s or more runs in ``make test-all`` only,
  its entry says why). A block that :data:`PYTHON_BLOCKS` does not know fails, so that a new
  one is added here on purpose.
- ``bash`` blocks: every ``pdesurrogate COMMAND ...`` line names a command and options that
  exist (``fit``, ``test``, ``generate`` and ``online`` parse the whole line with
  ``--print_config`` appended, config files included, and run nothing; the others' options are
  looked up in their ``--help``), every ``configs/...yaml`` it names ships in ``configs/``; other
  programs' lines are checked for their own part (``make`` targets, the pip torch pin, the sed
  that reads a fit's last line). A program not known here fails.
- ``text`` blocks: a ``$ pdesurrogate info PATH`` transcript is run on the tiny export and must
  show the lines the README shows, up to the values.

The checks take a path, so that :func:`test_a_broken_readme_fails` can point them at mutated
copies of the README.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import csv
import importlib
import inspect
import io
import os
import re
import shlex
import subprocess
import symtable
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLES_README = ROOT / "examples" / "README.md"
FENCE = re.compile(r"^```(\S*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, its text and the line of its opening fence."""

    path: Path
    lang: str
    code: str
    line: int

    def __str__(self) -> str:
        return f"{self.path.name}:{self.line} ({self.lang})"


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [Block(path, m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
            for m in FENCE.finditer(text)]


# -- python blocks --------------------------------------------------------------------------


@dataclass(frozen=True)
class PythonBlock:
    """What the test knows of a README Python block: ``marker``, the start of a line only it holds;
    ``after``, Python appended to it that checks what its comments say; ``slow_reason``, why
    running it is left to ``make test-all`` (its names are checked in every run)."""

    marker: str
    after: str
    slow_reason: str = ""


PYTHON_BLOCKS = {
    "solvers": PythonBlock(
        'solver = make_solver("burgers1d", n_points=1024, ic="grf")',
        "import torch\n"
        "assert u0.shape == (64, 1, 1024) and u0.dtype == torch.float32, (u0.shape, u0.dtype)\n"
        "assert set(params) == {'nu'} and params['nu'].shape == (64,), params\n"
        "assert traj.shape == (64, 3, 1, 1024) and torch.isfinite(traj).all(), traj.shape\n"
        "assert 'burgers1d' in SOLVERS\n",
        slow_reason="64 Burgers trajectories of 1024 points to t = 1: 16 s on a CPU"),
    "sor": PythonBlock(
        "res = sor_solve(A, b, tuner.choose())",
        "assert len(systems) == 20 and res.converged and not res.diverged, res\n"
        "x = sp.linalg.spsolve(A.tocsc(), b)\n"
        "assert np.abs(res.x - x).max() < 1e-5 * np.abs(x).max(), np.abs(res.x - x).max()\n"),
    "open_dataset": PythonBlock(
        'data = open_dataset("data/burgers.nc")',
        "n, t, c, nx = data.u.shape\n"
        "assert data.times.shape == (t,) and data.params['nu'].shape == (n,)\n"
        "assert data.u[0].shape == (t, c, nx)\n"),
    "own_data": PythonBlock(
        'DatasetWriter.write_arrays("data/own.nc", u, times, [x], {"c": c})',
        "data = open_dataset('data/own.nc')\n"
        "assert (data.pde, data.shape) == ('unknown', (32, 11, 1, 64)), data\n"
        "assert data.channel_names == ('u',) and data.grid_names == ('x',), data\n"
        "np.testing.assert_array_equal(data.params['c'], c)\n"
        "np.testing.assert_array_equal(data.u[:], u.astype(np.float32))\n"
        "np.testing.assert_array_equal(data.times, times)\n"),
    "load": PythonBlock(
        'sur = pdesurrogate.load("models/fno_burgers")',
        "import numpy as np\n"
        "assert u1.shape == u0.shape == (4, 1, 32), (u1.shape, u0.shape)\n"
        "assert traj.shape == (u0.shape[0], 11, *u0.shape[1:]), traj.shape\n"
        "assert len(energy) == 10_000 and np.isfinite(energy).all()\n",
        slow_reason="10,000 model steps (the iterate example): 10 s on a CPU"),
    "best_run": PythonBlock(
        "def final_rel_l2(run):",
        # b's last validation row is the lowest; a has a lower one, but not last
        "assert best == os.path.join('runs', 'sweep', 'b', 'csv', 'version_0'), best\n"),
    "pinn": PythonBlock(
        'pinn = load_pinn("models/pinn_poisson_1000d")',
        "import torch\n"
        "assert x.shape == (1000, pinn.dim) and x.dtype == torch.float32\n"
        "assert u.shape == (1000,) and u.dtype == torch.float32, (u.shape, u.dtype)\n"
        "assert pinn.exact(x).shape == (1000,)\n"),
}


def python_block_spec(block: Block) -> PythonBlock:
    found = [spec for spec in PYTHON_BLOCKS.values()
             if any(line.strip().startswith(spec.marker) for line in block.code.splitlines())]
    assert len(found) == 1, (
        f"{block}: {'a block this test does not know' if not found else 'several markers'}: "
        "add it to PYTHON_BLOCKS in tests/test_readme_blocks.py (what it needs, what to check)"
        f"\n{block.code}")
    return found[0]


class Instance:
    """A value the static check knows only the class(es) of (a constructor's or an annotated
    function's result)."""

    def __init__(self, classes: tuple[type, ...]):
        self.classes = classes


UNKNOWN = object()


def _ours(obj) -> bool:
    return (getattr(obj, "__module__", None) or "").startswith("pdesurrogate")


def _returns(fn) -> object:
    if inspect.isclass(fn):
        return Instance((fn,))
    try:
        ret = typing.get_type_hints(fn).get("return")
    except Exception:  # an annotation that does not evaluate: the static view stops here
        return UNKNOWN
    options = typing.get_args(ret) if isinstance(ret, types.UnionType) or \
        typing.get_origin(ret) is typing.Union else (ret,)
    classes = tuple(c for c in options if inspect.isclass(c) and c is not type(None))
    return Instance(classes) if classes else UNKNOWN


def _resolve(node: ast.expr, env: dict, where: str, called: bool) -> object:
    """What a name or attribute chain refers to, UNKNOWN where the static view cannot say; a
    missing attribute of a module or class, or a method none of an instance's classes has, is
    an AssertionError."""
    if isinstance(node, ast.Name):
        return env.get(node.id, UNKNOWN)
    if not isinstance(node, ast.Attribute):
        return UNKNOWN
    base = _resolve(node.value, env, where, called=False)
    if base is UNKNOWN:
        return UNKNOWN
    if isinstance(base, Instance):
        owners = [c for c in base.classes if hasattr(c, node.attr)]
        if not owners:
            # an attribute set in __init__ is not on the class; a method is
            assert not called, (f"{where}: {ast.unparse(node)}(): no method {node.attr!r} on "
                                f"{[c.__name__ for c in base.classes]}")
            return UNKNOWN
        return ("method", owners[0], node.attr)
    if isinstance(base, tuple):
        return UNKNOWN
    assert hasattr(base, node.attr), f"{where}: {ast.unparse(node)} does not exist"
    return getattr(base, node.attr)


def _signature(target) -> tuple[inspect.Signature, bool] | None:
    """The signature to bind a call's arguments to, and whether it takes ``self`` first."""
    if isinstance(target, tuple):
        _, cls, name = target
        raw = inspect.getattr_static(cls, name)
        fn = getattr(cls, name)
        if not callable(fn) or not _ours(fn):
            return None
        return inspect.signature(fn), inspect.isfunction(raw)
    if not callable(target) or not _ours(target):
        return None  # other libraries keep their own signatures
    return inspect.signature(target), False


def check_python_names(block: Block) -> None:
    """Every import of ``block`` resolves, and every call of our API (a function or class it
    imports, or a method of what one of them returns) binds its arguments: the names exist and
    take those arguments."""
    tree = ast.parse(block.code)
    env: dict[str, object] = {}
    nodes = sorted((n for n in ast.walk(tree) if hasattr(n, "lineno")),
                   key=lambda n: (n.lineno, n.col_offset))
    for node in nodes:
        where = f"{block}, line {block.line + node.lineno}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                module = importlib.import_module(alias.name)
                env[alias.asname or alias.name.split(".")[0]] = (
                    module if alias.asname else importlib.import_module(alias.name.split(".")[0]))
        elif isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), \
                    f"{where}: cannot import {alias.name!r} from {node.module}"
                env[alias.asname or alias.name] = getattr(module, alias.name)
        elif isinstance(node, ast.Call):
            target = _resolve(node.func, env, where, called=True)
            sig = None if target is UNKNOWN else _signature(target)
            if sig is None or any(isinstance(a, ast.Starred) for a in node.args) \
                    or any(k.arg is None for k in node.keywords):
                continue
            signature, takes_self = sig
            args = [None] * (len(node.args) + takes_self)
            try:
                signature.bind(*args, **{k.arg: None for k in node.keywords})
            except TypeError as exc:
                raise AssertionError(f"{where}: {ast.unparse(node)}: {exc} "
                                     f"(signature {signature})") from None
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = _resolve(node.value.func, env, where, called=True)
            if isinstance(target, tuple):
                target = getattr(target[1], target[2])
            env[node.targets[0].id] = UNKNOWN if target is UNKNOWN else _returns(target)
    # a name bound by an assignment the walk saw after its use is simply unknown there
    undefined = sorted(_undefined_names(block.code))
    assert not undefined, (f"{block}: uses {undefined} without defining them: a reader who "
                           "copies the block gets a NameError")


def _undefined_names(code: str) -> set[str]:
    """Global names the code reads but never binds (assignment, import, def, loop target) and
    that are not builtins."""
    top = symtable.symtable(code, "<block>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()
             or s.is_namespace()}
    used, tables = set(), [top]
    while tables:
        table = tables.pop()
        tables.extend(table.get_children())
        used |= {s.get_name() for s in table.get_symbols() if s.is_referenced()
                 and (table is top or s.is_global())}
    return used - bound - set(dir(builtins))


def run_python_block(block: Block, spec: PythonBlock, cwd: Path) -> None:
    script = (block.code + "\n\n# tests/test_readme_blocks.py: what the comments say\n"
              + spec.after)
    # one thread, as the README advises on a shared machine; no .pyc written anywhere
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{block} fails as written:\n{proc.stdout}{proc.stderr[-4000:]}"


# -- shell lines ----------------------------------------------------------------------------

# the line a fit ends with on stderr (tests/test_cli_fit.py holds fit to it)
FIT_LAST_LINE = "fit: run folder {run}; checkpoint {ckpt}"
PARSE_ONLY = ("fit", "test", "generate", "online")  # jsonargparse: --print_config parses all


def shell_lines(code: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", code)
    return [line.strip() for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def _without_redirections(tokens: list[str]) -> list[str]:
    out, skip = [], False
    for tok in tokens:
        if skip:
            skip = False
        elif re.fullmatch(r"\d*(>>?|<)", tok):
            skip = True
        elif not re.match(r"\d*(>>?|<)\S", tok):
            out.append(tok)
    return out


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``pdesurrogate ARGV`` in this process: its status, stdout and stderr."""
    from pdesurrogate.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return rc, out.getvalue(), err.getvalue()


def check_pdesurrogate(args: list[str], where: str) -> None:
    from pdesurrogate.cli import COMMANDS

    assert args and args[0] in COMMANDS, f"{where}: no pdesurrogate command {args[:1]}"
    for tok in args:
        if re.fullmatch(r"configs/\S+\.yaml", tok):
            assert (ROOT / tok).is_file(), f"{where}: {tok} is not in the repository"
    command = args[0]
    if command in PARSE_ONLY and "..." not in args:
        rc, out, err = run_cli([*args, "--print_config"])
        assert rc == 0 and out.strip(), f"{where}: pdesurrogate {shlex.join(args)}: {err}"
        return
    # a line with "..." elides arguments: only the options it shows are checked
    rc, usage, err = run_cli([command, "--help"])
    assert rc == 0, f"{where}: pdesurrogate {command} --help: {err}"
    for tok in args[1:]:
        if tok.startswith("--"):
            option = tok.split("=", 1)[0]
            assert re.search(rf"(?<![\w.-]){re.escape(option)}(?![\w-])", usage), \
                f"{where}: pdesurrogate {command} has no option {option}"


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def check_shell_line(line: str, where: str, variables: dict[str, str]) -> None:
    tokens = _without_redirections(shlex.split(line, comments=True))
    assignment = re.fullmatch(r"(\w+)=\$\((\S+)", tokens[0])
    if assignment:  # NAME=$(COMMAND ...)
        assert tokens[-1].endswith(")"), f"{where}: unclosed $( in {line}"
        name, tokens = assignment.group(1), [assignment.group(2), *tokens[1:]]
        tokens[-1] = tokens[-1][:-1]
        variables[name] = check_captured(tokens, where)
        return
    tokens = [variables.get(t[1:], t) if t.startswith("$") else t for t in tokens]
    program, args = tokens[0], tokens[1:]
    if program in ("mpiexec", "srun"):  # a launcher: its own options, then the command
        assert "pdesurrogate" in args, f"{where}: {program} line without pdesurrogate"
        program, args = "pdesurrogate", args[args.index("pdesurrogate") + 1:]
    if program == "pdesurrogate":
        check_pdesurrogate(args, where)
    elif program == "make":
        missing = {a for a in args if "=" not in a} - _makefile_targets()
        assert not missing, f"{where}: the Makefile has no target {sorted(missing)}"
    elif program == "pip":
        assert args[0] == "install", f"{where}: pip {args[0]}"
        pin = re.search(r"^TORCH\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
        for tok in args[1:]:
            if tok.startswith("torch=="):
                assert tok == pin.group(1), f"{where}: {tok}, the Makefile's TORCH {pin.group(1)}"
    else:
        raise AssertionError(f"{where}: a program this test does not know: {line}\n"
                             "(teach check_shell_line in tests/test_readme_blocks.py to check it)")


def check_captured(tokens: list[str], where: str) -> str:
    """A ``$(...)`` the README captures; returns the value it gives in the test's run."""
    assert tokens[0] == "sed", f"{where}: a captured command this test does not know: {tokens}"
    run = "runs/fno_burgers/csv/version_3"
    ckpt = f"{run}/checkpoints/last.ckpt"
    log = f"some progress\n{FIT_LAST_LINE.format(run=run, ckpt=ckpt)}\n"
    # the last token is the log file: the sed reads the test's log on stdin instead
    proc = subprocess.run(["sed", *tokens[1:-1]], input=log, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0 and proc.stdout.strip() == ckpt, \
        f"{where}: {shlex.join(tokens)} reads {proc.stdout!r} from a fit's last line, not {ckpt}"
    return ckpt


def check_shell_block(block: Block) -> None:
    variables: dict[str, str] = {}
    for line in shell_lines(block.code):
        check_shell_line(line, str(block), variables)


LABEL = re.compile(r"\s+(\S[\w ]*?)\s{2,}")  # "  time step      dt 0.5 ...": "time step"


def check_transcript(block: Block) -> None:
    """A ``text`` block: ``$ pdesurrogate ...`` and what it prints. Run here (cwd: the prepared
    folder), the first line must be the README's and every label the README shows must be in
    the output, in the same order."""
    lines = block.code.splitlines()
    assert lines and lines[0].startswith("$ pdesurrogate info "), \
        f"{block}: a text block this test does not know (teach check_transcript)"
    args = shlex.split(lines[0][2:])[1:]
    check_pdesurrogate(args, str(block))
    rc, out, err = run_cli(args)
    assert rc == 0, f"{block}: {lines[0]}: {err}"
    got = out.splitlines()
    assert got[0] == lines[1], f"{block}: first line {got[0]!r}, README {lines[1]!r}"
    got_labels = [m.group(1) for m in map(LABEL.match, got[1:]) if m]
    shown_labels = [m.group(1) for m in map(LABEL.match, lines[2:]) if m]
    assert shown_labels and [lb for lb in got_labels if lb in shown_labels] == shown_labels, \
        f"{block}: the README shows {shown_labels}, info prints {got_labels}"


def check_block(block: Block) -> None:
    """The checks of ``make test`` for one block (the Python blocks' names, not their run)."""
    if block.lang == "python":
        python_block_spec(block)
        check_python_names(block)
    elif block.lang == "bash":
        check_shell_block(block)
    elif block.lang == "text":
        check_transcript(block)
    else:
        raise AssertionError(f"{block}: a ```{block.lang} block this test does not know")


# -- the prepared folder --------------------------------------------------------------------


def _write_metrics(path: Path, val: list[float | None]) -> None:
    path.parent.mkdir(parents=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "step", "train/rel_l2", "val/rel_l2"])
        for i, v in enumerate(val):
            w.writerow([i, 10 * i + 9, 0.5, ""])  # a training row: no val/ value
            if v is not None:
                w.writerow([i, 10 * i + 9, "", v])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder with what the README's blocks read, at the paths they name: ``configs/`` (the
    repository's), tiny Burgers files, a tiny FNO export ``models/fno_burgers``, a tiny PINN
    export ``models/pinn_poisson_1000d``, sweep logs under ``runs/sweep``, and the
    ``config.yaml`` a fit saves in ``runs/fno_burgers/csv/version_0``."""
    import torch

    from pdesurrogate.datasets import ChannelStats, generate_dataset
    from pdesurrogate.export import export_surrogate
    from pdesurrogate.models import FNO
    from pdesurrogate.pinn import SDGD, PINNModule, Poisson
    from pdesurrogate.solvers import Burgers1D
    from pdesurrogate.training import NextStepModule

    d = tmp_path_factory.mktemp("readme")
    (d / "configs").symlink_to(ROOT / "configs")
    for name, seed in (("burgers.nc", 0), ("burgers1d_heldout.nc", 1)):
        generate_dataset(Burgers1D(n_points=32, nu_range=(0.01, 0.1), ic="grf"),
                         d / "data" / name, samples=6, times=np.linspace(0, 0.5, 3),
                         seed=seed, workers=1)
    torch.manual_seed(0)
    fno = NextStepModule(FNO(1, 1, [4], 4, 1, n_params=1), residual=True)
    fno.set_normalization(ChannelStats(mean=[0.0], std=[1.0], spatial_dims=1,
                                       param_names=["nu"], param_mean=[0.05], param_std=[0.02],
                                       param_min=[0.01], param_max=[0.1]))
    fno.data_info = {"pde": "burgers1d", "grid_shape": [32], "channel_names": ["u"],
                     "param_names": ["nu"], "k": 1, "dt": 0.25}
    with torch.no_grad():  # a step of zero change: the README's 10,000 steps stay finite
        for p in fno.parameters():
            p.zero_()
    export_surrogate(fno, d / "models" / "fno_burgers")
    export_surrogate(PINNModule(Poisson(1000), SDGD(10), width=8, depth=2),
                     d / "models" / "pinn_poisson_1000d")
    _write_metrics(d / "runs/sweep/a/csv/version_0/metrics.csv", [0.05, 0.3])
    _write_metrics(d / "runs/sweep/b/csv/version_0/metrics.csv", [0.2, 0.1])
    _write_metrics(d / "runs/sweep/c/csv/version_0/metrics.csv", [None])
    (d / "runs/sweep/d/csv/version_0").mkdir(parents=True)  # stopped before it logged
    cwd = os.getcwd()
    os.chdir(d)
    try:
        rc, saved, err = run_cli(["fit", "--config", "configs/fit/fno_burgers.yaml",
                                       "--print_config"])
    finally:
        os.chdir(cwd)
    assert rc == 0, err
    run = d / "runs/fno_burgers/csv/version_0"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(saved)
    return d


# -- the tests ------------------------------------------------------------------------------

BLOCKS = blocks(README)
PYTHON = [b for b in BLOCKS if b.lang == "python"]


def test_the_readme_has_the_blocks_this_test_knows():
    """Each Python block matches one entry of PYTHON_BLOCKS and each entry one block, and
    every block's language is one the test checks: nothing is skipped without a word."""
    assert {b.lang for b in BLOCKS} <= {"python", "bash", "text"}, {b.lang for b in BLOCKS}
    matched = [python_block_spec(b) for b in PYTHON]
    unused = [k for k, spec in PYTHON_BLOCKS.items() if spec not in matched]
    assert not unused and len(set(map(id, matched))) == len(matched), unused
    assert sum(b.lang == "bash" for b in BLOCKS) >= 10


@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_block_names_what_exists(block, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    check_block(block)


def _run_params():
    params = []
    for b in PYTHON:
        try:
            spec = python_block_spec(b)
        except AssertionError:
            params.append(pytest.param(b, id=str(b)))  # fails in the test, naming it
            continue
        marks = [pytest.mark.slow] if spec.slow_reason else []
        params.append(pytest.param(b, id=str(b), marks=marks))
    return params


@pytest.mark.parametrize("block", _run_params())
def test_python_block_runs_as_written(block, workdir):
    """Run in a fresh interpreter in the prepared folder; a block whose run is slow (its
    PythonBlock says why) runs in ``make test-all`` only: its names are checked above."""
    run_python_block(block, python_block_spec(block), workdir)


EXAMPLE_COMMAND = re.compile(r"`((?:mpiexec [^`]*?)?python (examples/[\w/]+\.py)([^`]*))`")


def test_examples_readme_runs_scripts_and_options_that_exist():
    """examples/README.md: every `python examples/X.py ...` names a script there whose parser
    has each option, and every file it links to exists."""
    text = EXAMPLES_README.read_text(encoding="utf-8")
    commands = EXAMPLE_COMMAND.findall(text)
    assert len(commands) >= 4, commands
    for whole, script, rest in commands:
        source = (ROOT / script).read_text(encoding="utf-8")
        for option in re.findall(r"(?<!\S)(--[\w-]+)", rest):
            assert re.search(rf"add_argument\(\s*[\"']{re.escape(option)}[\"']", source), \
                f"examples/README.md: `{whole}`: {script} has no option {option}"
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        assert (EXAMPLES_README.parent / link).exists(), f"examples/README.md links {link}"
    for test in re.findall(r"`(tests/[\w/]+\.py)`", text):
        assert (ROOT / test).is_file(), f"examples/README.md names {test}"


# -- the checks can fail --------------------------------------------------------------------

# a mistake, and what the failure says
MUTANTS = {
    "misspelt option": ("--trainer.max_epochs 20", "--trainer.max_epoch 20",
                        "unrecognized arguments: --trainer.max_epoch 20"),
    "option of another command": ("--plot pred.png", "--plots pred.png",
                                  "pdesurrogate predict has no option --plots"),
    "missing config": ("configs/fit/cape_fno_burgers.yaml", "configs/fit/cape_burgers.yaml",
                       "configs/fit/cape_burgers.yaml is not in the repository"),
    "unknown command": ("pdesurrogate compare --input data/", "pdesurrogate comparre --input data/",
                        "no pdesurrogate command ['comparre']"),
    "misspelt import": ("import SOLVERS, make_solver", "import SOLVERS, make_solvers",
                        "cannot import 'make_solvers'"),
    "misspelt keyword": ("steps=10)", "step=10)", "unexpected keyword argument 'step'"),
    "undefined name": ("energy = []\n", "", "uses ['energy'] without defining them"),
    "misspelt method": ("tuner.observe(", "tuner.observes(", "no method 'observes'"),
    "sed that misses the line": ("checkpoint \\(.*\\.ckpt\\)", "checkpoint: \\(.*\\.ckpt\\)",
                                 "from a fit's last line"),
    "info label": ("  time step      dt", "  timestep       dt", "the README shows"),
    "unknown program": ("make demo ", "gmake demo ", "a program this test does not know"),
    "new python block": ("\n## Development\n",
                         "\n```python\nimport pdesurrogate\n```\n\n## Development\n",
                         "a block this test does not know"),
}


@pytest.mark.parametrize("mutant", MUTANTS, ids=str)
def test_a_broken_readme_fails(mutant, workdir, tmp_path, monkeypatch):
    """The checks above, pointed at a copy of the README with one mistake, fail on the block
    that holds it."""
    old, new, says = MUTANTS[mutant]
    text = README.read_text(encoding="utf-8")
    assert text.count(old) >= 1, f"mutant {mutant!r}: {old!r} is no longer in the README"
    copy = tmp_path / "README.md"
    copy.write_text(text.replace(old, new, 1), encoding="utf-8")
    before = {(b.lang, b.code) for b in BLOCKS}
    changed = [b for b in blocks(copy) if (b.lang, b.code) not in before]
    assert len(changed) == 1, changed
    monkeypatch.chdir(workdir)
    with pytest.raises(AssertionError) as failure:
        check_block(changed[0])
    assert says in str(failure.value), str(failure.value)

