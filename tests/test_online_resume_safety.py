"""What ``pdesurrogate online --resume`` reads from a run folder, built here file by file: a
Lightning checkpoint that holds a pickle is refused (never run), also where torch would load it
with ``weights_only=False``; a checkpoint swap killed half-way (``checkpoint.partial/`` and
``checkpoint.old/``, no ``checkpoint/``) is resumed from, and a fresh run refuses that folder; a
corrupt manifest is one error naming it; the files online writes never follow a symlink planted
at a temporary name."""

import importlib.util
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

_spec = importlib.util.spec_from_file_location("online_test_helpers",
                                               Path(__file__).with_name("test_online.py"))
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

pytestmark = helpers.pytestmark


class RunsCode:
    """Unpickled, it creates the file ``marker``: a stand-in for any code a pickle can run."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def stopped_run(tmp_path: Path, model_ckpt: dict, ck: str = "checkpoint",
                global_step: int = 3) -> tuple[Path, Path]:
    """A run folder as a stopped run leaves it (config.yaml, ``ck``/ with manifest, stream state
    and ``model_ckpt`` saved as model.ckpt), with nothing committed yet, so a resume of it
    reaches the Lightning checkpoint. Returns the config and the run folder."""
    from pdesurrogate.online import _parameter_box, _parse, _write_config_file
    from pdesurrogate.streaming import Scheduler, make_buffer

    cfg, out = helpers.write_config(tmp_path, simulations=4), tmp_path / "run"
    parser, ns, _ = _parse(["--config", str(cfg), "--out", str(out)])
    _write_config_file(parser, ns, out)
    write_checkpoint(out / ck, ns, _parameter_box(ns, parser.instantiate(ns).solver),
                     model_ckpt, global_step, Scheduler, make_buffer)
    return cfg, out


def write_checkpoint(folder: Path, ns, box, model_ckpt: dict, global_step: int, Scheduler,
                     make_buffer) -> None:
    folder.mkdir(parents=True)
    sched = Scheduler(box, ns.simulations, ns.sampling, ns.seed, ns.max_retries)
    buf = make_buffer(ns.buffer.kind, capacity=ns.buffer.capacity,
                      watermark=ns.buffer.watermark, max_bytes=None, seed=ns.seed)
    torch.save({"buffer": buf.state_dict(), "commit_queue": [], "committed_sims": [],
                "scheduler": sched.state_dict(), "received": {"samples": 0, "bytes": 0}},
               folder / "stream-trainer0.pt")
    torch.save(model_ckpt, folder / "model.ckpt")
    (folder / "manifest.json").write_text(json.dumps(
        {"trainers": 1, "global_step": global_step, "simulations": ns.simulations,
         "committed": 0, "stop": True}))


def checkpoint_folder(folder: Path, global_step: int, complete: bool = True) -> None:
    """A checkpoint folder with every file a resume needs (a Lightning checkpoint a
    weights-only load reads); ``complete=False``: killed before its manifest was written."""
    folder.mkdir(parents=True)
    torch.save({"state_dict": {}, "global_step": global_step}, folder / "model.ckpt")
    torch.save({"committed_sims": []}, folder / "stream-trainer0.pt")
    if complete:
        (folder / "manifest.json").write_text(json.dumps(
            {"trainers": 1, "global_step": global_step, "simulations": 4, "committed": 0,
             "stop": False}))


LAUNCHERS = ["pdesurrogate", "own mpiexec"]
CORRUPT_MANIFESTS = ["{\"trainers\": 1, \"global_st", "[1, 2]"]


def resume_command(cfg: Path, out: Path, launcher: str = "pdesurrogate") -> list[str]:
    """``pdesurrogate online --resume`` of ``out``, through the launcher or under the user's
    own mpiexec (2 ranks)."""
    args = ["--config", str(cfg), "--out", str(out), "--resume"]
    if launcher == "pdesurrogate":
        return [*helpers.PDESURROGATE, *args]
    return [str(helpers.BIN / "mpiexec"), "-launcher", "fork", "-n", "2",
            *helpers.PDESURROGATE, *args]


@pytest.fixture(scope="module")
def resumes(tmp_path_factory):
    """The module's resumes of run folders built here. Case -> (its test folder, a function
    giving its subprocess.CompletedProcess). Through the launcher, whose refusals come before
    any MPI job, the resume runs in the test's own process when the test asks for it
    (:func:`launcher_resume`: each a launcher's import of torch and Lightning less); under the
    user's own mpiexec, the two jobs start together when the first test asks. ("unpickle",
    launcher): a pickle-bearing model.ckpt copied into a stopped run's checkpoint/, resumed
    with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (torch's default before 2.6, which made
    Lightning's load unpickle it); ("corrupt", text): the manifest's text replaced by
    ``text``; ("own mpiexec", "{"): the same, under the user's own mpiexec."""
    cases = {}
    for launcher in LAUNCHERS:
        tmp_path = tmp_path_factory.mktemp("unpickle")
        cfg, out = stopped_run(tmp_path, {"state_dict": {}, "x": RunsCode(tmp_path / "code-ran")})
        env = {**helpers.env_with(tmp_path), "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
        cases["unpickle", launcher] = tmp_path, cfg, out, launcher, env
    for key, texts, launcher in (("corrupt", CORRUPT_MANIFESTS, "pdesurrogate"),
                                 ("own mpiexec", ["{"], "own mpiexec")):
        for text in texts:
            tmp_path = tmp_path_factory.mktemp("manifest")
            cfg, out = stopped_run(tmp_path, {"state_dict": {}})
            (out / "checkpoint" / "manifest.json").write_text(text)
            cases[key, text] = tmp_path, cfg, out, launcher, helpers.env_with(tmp_path)
    with ThreadPoolExecutor(2) as pool:
        yield {case: (tmp_path, pool.submit(subprocess.run, resume_command(cfg, out, launcher),
                                            capture_output=True, text=True, timeout=300,
                                            env=env).result
                      if launcher == "own mpiexec" else (cfg, out, env))
               for case, (tmp_path, cfg, out, launcher, env) in cases.items()}


def resume_result(resumes, case, capsys, monkeypatch) -> tuple[Path, subprocess.CompletedProcess]:
    """``case``'s test folder and its resume's result: the own-mpiexec job's, or the
    launcher's refusal run here (:func:`launcher_resume`)."""
    tmp_path, started = resumes[case]
    if callable(started):
        return tmp_path, started()
    return tmp_path, launcher_resume(*started, capsys, monkeypatch)


def launcher_resume(cfg: Path, out: Path, env: dict, capsys,
                    monkeypatch) -> subprocess.CompletedProcess:
    """``pdesurrogate online --resume`` of ``out`` in this process, in ``env``, for a resume
    that must be refused before it starts an MPI job (:func:`helpers.refusal`)."""
    for name, value in env.items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    return helpers.refusal(resume_command(cfg, out)[len(helpers.PDESURROGATE):], capsys)


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_resume_never_unpickles_code_from_the_checkpoint(resumes, launcher, capsys,
                                                        monkeypatch):
    """A pickle-bearing model.ckpt copied into a stopped run's checkpoint/: --resume refuses it
    in one line naming the file, and its code never runs, even with
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (torch's default before 2.6), which made Lightning's
    load unpickle it. Under the user's own mpiexec (as under srun) world rank 0 checks it."""
    tmp_path, proc = resume_result(resumes, ("unpickle", launcher), capsys, monkeypatch)
    marker, out = tmp_path / "code-ran", tmp_path / "run"
    log = proc.stdout + proc.stderr
    assert not marker.exists(), "the checkpoint's pickle ran: " + log
    assert proc.returncode == 2 if launcher == "pdesurrogate" else proc.returncode != 0, log
    assert f"{out / 'checkpoint' / 'model.ckpt'}': not a Lightning checkpoint (it holds " \
           "io.open objects" in log, log
    assert "Traceback" not in log, log


def test_a_fresh_run_refuses_a_folder_left_by_a_swap_killed_half_way(tmp_path):
    """checkpoint.partial/ and checkpoint.old/ without checkpoint/ (killed inside the swap): a
    run without --resume would delete both at its first checkpoint; it is refused, naming
    them."""
    from pdesurrogate.online import UsageError, _check_out

    out = tmp_path / "run"
    checkpoint_folder(out / "checkpoint.partial", 6)
    checkpoint_folder(out / "checkpoint.old", 3)
    with pytest.raises(UsageError) as err:
        _check_out(out, resume=False)
    msg = str(err.value)
    assert repr(str(out / "checkpoint.partial")) in msg and repr(str(out / "checkpoint.old")) \
        in msg and "--resume" in msg, msg
    (out / "checkpoint.partial" / "manifest.json").unlink()  # any of them, complete or not
    with pytest.raises(UsageError, match="checkpoint.partial"):
        _check_out(out, resume=False)


@pytest.mark.parametrize("partial_complete", [True, False])
def test_resume_takes_the_staged_checkpoint_else_the_previous_one(tmp_path, partial_complete):
    """--resume after a kill inside the swap: from checkpoint.partial/ if its manifest was
    written (it is the newer), else from checkpoint.old/; it says which, makes it checkpoint/
    and removes the other."""
    from pdesurrogate.online import _check_out, _recover_checkpoint, _where_to_resume

    out = tmp_path / "run"
    checkpoint_folder(out / "checkpoint.partial", 6, complete=partial_complete)
    checkpoint_folder(out / "checkpoint.old", 3)
    _check_out(out, resume=True)
    picked, step = ("checkpoint.partial", 6) if partial_complete else ("checkpoint.old", 3)
    assert f"last checkpoint: {out / picked} " in _where_to_resume(out)
    note = _recover_checkpoint(out)
    assert note.startswith(f"resuming from {out / picked}/"), note
    assert json.loads((out / "checkpoint" / "manifest.json").read_text())["global_step"] == step
    assert not (out / "checkpoint.partial").exists() and not (out / "checkpoint.old").exists()
    assert _recover_checkpoint(out) is None  # now an ordinary checkpoint/


def test_resume_without_a_complete_checkpoint_names_what_it_found(tmp_path):
    from pdesurrogate.online import UsageError, _check_out

    out = tmp_path / "run"
    checkpoint_folder(out / "checkpoint.partial", 6, complete=False)
    with pytest.raises(UsageError, match=r"no checkpoint in .*checkpoint' \(no manifest.json\); "
                                         r"checkpoint.partial/ incomplete"):
        _check_out(out, resume=True)


@pytest.mark.parametrize("text", CORRUPT_MANIFESTS)
def test_a_corrupt_manifest_is_one_error_naming_the_file(resumes, text, capsys, monkeypatch):
    """It was a rank's traceback and 'error: JSONDecodeError' without the file's name."""
    tmp_path, proc = resume_result(resumes, ("corrupt", text), capsys, monkeypatch)
    manifest = tmp_path / "run" / "checkpoint" / "manifest.json"
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert repr(str(manifest)) in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("pdesurrogate online: error: "), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 2, proc.stderr  # the error, the --help hint


def test_online_writes_never_follow_a_symlink_at_a_temporary_name(tmp_path,
                                                                   plant_temp_names):
    """config.yaml and the checkpoint's stream state are written under a temporary name and
    renamed: links planted at the very names these writes draw (the name generator made to
    return them first) are refused by the exclusive create; the writes draw other names, the
    linked file stays as it was, the links stay links, and the results are files of their
    own."""
    from pdesurrogate.online import _atomic_save, _parse, _write_config_file

    cfg, out = helpers.write_config(tmp_path), tmp_path / "run"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    planted = {out / name: out / f".{name}.planted" for name in ("config.yaml",
                                                                  "stream-trainer0.pt")}
    for link in planted.values():
        link.symlink_to(victim)
    drawn = plant_temp_names(planted)
    parser, ns, _ = _parse(["--config", str(cfg), "--out", str(out)])
    _write_config_file(parser, ns, out)
    _atomic_save({"committed_sims": [1, 2]}, out / "stream-trainer0.pt")
    assert sorted(drawn) == sorted(planted.values())  # both planted names were drawn
    assert victim.read_text() == "precious\n"
    assert all(link.is_symlink() and link.resolve() == victim for link in planted.values())
    for name in ("config.yaml", "stream-trainer0.pt"):
        assert (out / name).is_file() and not (out / name).is_symlink(), name
    assert "class_path: pdesurrogate.solvers.Advection1D" in (out / "config.yaml").read_text()
    assert torch.load(out / "stream-trainer0.pt", weights_only=True) == {"committed_sims": [1, 2]}
    # the umask's mode, as before (mkstemp's own is 0600)
    assert (out / "config.yaml").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_under_its_own_mpiexec_a_resume_checks_the_manifest_too(resumes, capsys, monkeypatch):
    """Without the launcher, world rank 0 reads the manifest: one line naming it, no
    traceback."""
    tmp_path, proc = resume_result(resumes, ("own mpiexec", "{"), capsys, monkeypatch)
    manifest = tmp_path / "run" / "checkpoint" / "manifest.json"
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log
    assert f"[online rank 0 (trainer)] error: {str(manifest)!r}: cannot read the checkpoint's " \
           "manifest (JSONDecodeError: " in log and "Traceback" not in log, log
