"""Shared test settings."""

import os
from pathlib import Path

import pytest
import torch

# Tests use tiny tensors: one intra-op thread avoids oversubscribing the 2 CPU cores (a busy
# second thread made small ops ~100x slower on a shared machine). PDESURROGATE_TEST_THREADS
# overrides.
torch.set_num_threads(int(os.environ.get("PDESURROGATE_TEST_THREADS", "1")))

ROOT = Path(__file__).resolve().parents[1]
TRANSIENT = {".pytest_cache", ".ruff_cache", "__pycache__", ".git"}


def _checkout_files() -> set[str]:
    """The checkout's top-level entries and everything under ``runs/``: what a test that forgot
    ``default_root_dir`` or ``--out`` would leave behind."""
    seen = {name for name in os.listdir(ROOT) if name not in TRANSIENT}
    for folder, _, files in os.walk(ROOT / "runs"):
        seen.update(os.path.join(folder, f) for f in files)
    return seen


@pytest.fixture(scope="session", autouse=True)
def _tests_write_nothing_into_the_checkout():
    before = _checkout_files()
    yield
    added = sorted(_checkout_files() - before)
    assert not added, f"tests wrote into the checkout (use tmp_path): {added[:10]}"


@pytest.fixture
def plant_temp_names(monkeypatch):
    """``plant(planted, *modules)``: the temporary-file name generator (the core's
    ``temp_name``, and the same name in each of ``modules`` that imported it) returns
    ``planted[target]`` the first time it is asked for a name for ``target``, so a test can plant
    a symlink at the very name a writer will try. Returns the list of planted names drawn."""
    from pdesurrogate.datasets import temp_files as core

    def plant(planted: dict, *modules) -> list:
        real, drawn = core.temp_name, []

        def planted_first(target, kind="tmp", ext=""):
            name = planted.get(Path(target))
            if name is not None and name not in drawn:
                drawn.append(name)
                return name
            return real(target, kind, ext)

        for module in (core, *modules):
            monkeypatch.setattr(module, "temp_name", planted_first)
        return drawn

    return plant
