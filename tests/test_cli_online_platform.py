"""``pdesurrogate online`` on a platform without what its launcher needs (Windows: no fcntl, no
SIGUSR1 or SIGHUP, no os.killpg): one line saying so, before the online package is run. Before,
a traceback ending "No module named 'fcntl'" or in an AttributeError of the signal module."""

import importlib.util
import signal

import pytest

import pdesurrogate.online
from pdesurrogate.cli import main


def _launcher_reached(argv):
    raise AssertionError("the online launcher was reached")


@pytest.mark.parametrize("missing", ["fcntl", "signal.SIGUSR1", "signal.SIGHUP", "os.killpg"])
def test_online_says_the_platform_lacks_what_it_needs(tmp_path, monkeypatch, capsys, missing):
    monkeypatch.setattr(pdesurrogate.online, "cmd_online", _launcher_reached)
    if missing == "fcntl":
        find_spec = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name == "fcntl" else find_spec(name, *a))
    else:
        module, name = missing.split(".")
        monkeypatch.delattr({"signal": signal, "os": __import__("os")}[module], name)
    out = tmp_path / "run"
    assert main(["online", "--config", "configs/online/burgers_fno.yaml", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"pdesurrogate online: error: it runs on Linux and macOS only: this platform "
                   f"lacks {missing}, which its launcher needs (on Windows, run it under WSL)\n")
    assert not out.exists()
