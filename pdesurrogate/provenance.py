"""config.json's ``provenance``: the record that traces an exported model back to its run
(the checkpoint it was exported from, Lightning's counters, the fit's seed, the git commit of
the exporting checkout) and its data. Built (:func:`provenance`, from :func:`run_of_module` or
:func:`run_of_checkpoint` and :func:`git_state`) and checked (:func:`check_provenance`) alike
for field surrogates (:mod:`pdesurrogate.export`, whose docstring lists the keys) and PINNs
(:mod:`pdesurrogate.pinn.export`).
"""

from __future__ import annotations

import os
from pathlib import Path

from pdesurrogate.run_record import CHECKPOINT_KEY

# provenance's keys and the JSON types each may hold (None: null): a PINN's (no training
# data: it samples its own points) and a field surrogate's
RUN_PROVENANCE_KEYS = {"checkpoint": (str, type(None)), "epoch": (int, type(None)),
                       "global_step": (int, type(None)), "seed_everything": (int, type(None)),
                       "git_commit": (str, type(None)), "git_dirty": (bool, type(None))}
PROVENANCE_KEYS = {"data_source": (dict, type(None)), **RUN_PROVENANCE_KEYS}
# a field surrogate's provenance key written only when it applies: the sources a fit resumed
# on other data was fit on before, oldest first (pdesurrogate.training.data_source's
# EARLIER_KEY; not imported from there: load stays free of Lightning)
FINE_TUNED_KEY = "fine_tuned_from"
# likewise, the path a fit's weights started from (pdesurrogate.training.init_weights' INIT_KEY)
INIT_WEIGHTS_KEY = "init_weights"
# the keys a field surrogate's provenance may have besides PROVENANCE_KEYS
OPTIONAL_PROVENANCE_KEYS = (FINE_TUNED_KEY, INIT_WEIGHTS_KEY)
GIT_TIMEOUT_S = 5.0


def run_of_module(module) -> dict:
    """The provenance of an exported module's run (besides git): ``checkpoint`` (None),
    Lightning's ``epoch`` and ``global_step`` (None if it never had a trainer) and its
    ``seed_everything`` (None if not recorded). Shared by field and PINN exports."""
    trained = getattr(module, "_trainer", None) is not None
    return {"checkpoint": None,
            "epoch": int(module.current_epoch) if trained else None,
            "global_step": int(module.global_step) if trained else None,
            "seed_everything": getattr(module, "seed_everything", None)}


def run_of_checkpoint(path: Path, ckpt: dict) -> dict:
    """:func:`run_of_module` for a Lightning checkpoint read from ``path``: its absolute path,
    the counters it was written at and the seed its module saved."""
    saved = ckpt.get(CHECKPOINT_KEY) or {}
    hp = ckpt.get("hyper_parameters") or {}
    return {"checkpoint": os.path.abspath(path), "epoch": ckpt.get("epoch"),
            "global_step": ckpt.get("global_step"),
            "seed_everything": saved.get("seed_everything", hp.get("seed_everything"))}


def provenance(run: dict, **data) -> dict:
    """config.json's ``provenance``: ``data`` (``data_source=...`` for a field surrogate; a
    PINN has no training data), then ``run`` (:func:`run_of_module` /
    :func:`run_of_checkpoint`) as JSON ints, then the git state (:func:`git_state`)."""
    commit, dirty = git_state()
    return {**data, "checkpoint": run["checkpoint"], "epoch": _json_int(run["epoch"]),
            "global_step": _json_int(run["global_step"]),
            "seed_everything": _json_int(run["seed_everything"]),
            "git_commit": commit, "git_dirty": dirty}


def git_state(folder: str | os.PathLike | None = None) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git checkout this pdesurrogate runs from (``folder``: the
    package's), or ``(None, None)``: not a checkout (an installed package, even one inside
    some other repository, as a virtual environment in a project's folder), no git, or git
    slower than :data:`GIT_TIMEOUT_S`. ``dirty``: tracked files differ from the commit."""
    import subprocess

    here = Path(folder or Path(__file__).resolve().parent)

    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True,
                               timeout=GIT_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    # a checkout of this project: the package folder sits at its root, beside pyproject.toml
    if not top or not (Path(top) / "pyproject.toml").is_file() \
            or Path(top).resolve() != here.resolve().parent:
        return None, None
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return commit, (None if status is None else bool(status))


def _json_int(v) -> int | None:
    return None if v is None or isinstance(v, bool) else int(v)


def check_provenance(prov, where: str, keys: dict | None = None) -> None:
    """config.json's ``provenance``: null, or an object with exactly ``keys`` (default
    :data:`PROVENANCE_KEYS`; a PINN's: :data:`RUN_PROVENANCE_KEYS`) of the types there, a
    ``data_source`` that is null or a record that
    :func:`pdesurrogate.datasets.source.check_source_record` accepts (it is only recorded, never
    acted on by ``load``, but a typo is still an error) and, for a field surrogate, perhaps
    ``fine_tuned_from``: a list of such records, and ``init_weights``: a string."""
    field = keys is None
    keys = PROVENANCE_KEYS if keys is None else keys
    if prov is None:
        return
    if not isinstance(prov, dict):
        raise ValueError(f"{where!r}: provenance must be null or an object, got "
                         f"{type(prov).__name__}")
    optional = set(OPTIONAL_PROVENANCE_KEYS) if field else set()
    unknown = sorted(set(prov) - set(keys) - optional)
    missing = [k for k in keys if k not in prov]
    if unknown or missing:
        maybe = f" (and perhaps {FINE_TUNED_KEY!r}, {INIT_WEIGHTS_KEY!r})" if field else ""
        raise ValueError(f"{where!r}: provenance has unknown key(s) {unknown}, missing key(s) "
                         f"{missing}; expected exactly {list(keys)}{maybe}")
    for key, types in keys.items():
        v = prov[key]
        if not isinstance(v, types) or (bool not in types and isinstance(v, bool)):
            want = " or ".join("null" if t is type(None) else {
                dict: "an object", str: "a string", int: "an int", bool: "true or false"}[t]
                for t in types)
            raise ValueError(f"{where!r}: provenance.{key} must be {want}, got {v!r}")
    from pdesurrogate.datasets.source import check_source_record

    if prov.get("data_source") is not None:
        check_source_record(prov["data_source"], where)
    if INIT_WEIGHTS_KEY in prov and not isinstance(prov[INIT_WEIGHTS_KEY], str):
        raise ValueError(f"{where!r}: provenance.{INIT_WEIGHTS_KEY} must be a string (the path "
                         f"the fit's weights started from), got {prov[INIT_WEIGHTS_KEY]!r}")
    if FINE_TUNED_KEY in prov:
        earlier = prov[FINE_TUNED_KEY]
        if not isinstance(earlier, list):
            raise ValueError(f"{where!r}: provenance.{FINE_TUNED_KEY} must be a list of "
                             f"data-source records (oldest first), got {earlier!r}")
        for i, record in enumerate(earlier):
            check_source_record(record, where, f"provenance.{FINE_TUNED_KEY}[{i}]")
