"""``out: ~/...`` in an online config: a YAML value is no shell word, and the run folder was
made as ./~/... beside wherever the command ran."""

import importlib.util
from pathlib import Path

from pdesurrogate.online import _parse

_spec = importlib.util.spec_from_file_location(
    "online_test_helpers", Path(__file__).parents[1] / "test_online.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


def test_out_with_tilde_is_under_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = helpers.write_config(tmp_path)
    cfg.write_text(cfg.read_text() + "out: ~/runs/été x\n")
    for lightning in (False, True):  # as a rank parses it, and as the launcher does
        _, parsed, _ = _parse(["--config", str(cfg)], lightning=lightning)
        assert parsed.out == str(tmp_path / "home" / "runs" / "été x")
