"""How ``pdesurrogate``'s ``main`` ends a command that raised (a stand-in command, so nothing
runs): Ctrl-C exits 130 and says so (the README and the online epilog promise it), and an error
wrapped by a library is printed as its innermost cause, the user's mistake, on one line."""

import pytest

from pdesurrogate import cli


@pytest.fixture
def command(monkeypatch):
    """``command(fn)``: ``pdesurrogate configs`` runs ``fn(argv)`` instead."""
    monkeypatch.delenv("PDESURROGATE_DEBUG", raising=False)
    return lambda fn: monkeypatch.setitem(cli.COMMANDS, "configs", ("", fn))


def test_ctrl_c_exits_130(command, capsys):
    def interrupted(argv):
        raise KeyboardInterrupt

    command(interrupted)
    assert cli.main(["configs"]) == 130
    assert capsys.readouterr().err == "pdesurrogate configs: interrupted (Ctrl-C)\n"


def test_the_root_cause_is_printed(command, capsys):
    def fails(argv):
        try:
            raise TypeError("the user's mistake")
        except TypeError as e:
            raise RuntimeError("wrapped by a library") from e

    command(fails)
    assert cli.main(["configs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pdesurrogate configs: error: TypeError: the user's mistake\n"), err
    assert "wrapped by a library" not in err
