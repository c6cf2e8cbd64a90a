"""The commands' own warnings print as ``pdesurrogate COMMAND: warning: MESSAGE``
(cli.messages._own_warnings_prefixed); another library's keep Python's format, naming their
file. In a source checkout pdesurrogate's __path__ also holds the checkout's root, so before
every file under it counted as ours, a .venv's libraries included: numpy's warning came
prefixed, as if pdesurrogate had said it."""

import warnings

import numpy as np
import pytest

import pdesurrogate.datasets.generate as generate
from pdesurrogate.cli.messages import _own_warnings_prefixed


def _shown(filename: str, capsys) -> str:
    with _own_warnings_prefixed("generate"):
        warnings.simplefilter("always")
        warnings.warn_explicit("careful", UserWarning, filename, 7)
    return capsys.readouterr().err


def test_ours_are_prefixed_and_another_librarys_keep_their_file(capsys):
    assert _shown(generate.__file__, capsys) == "pdesurrogate generate: warning: careful\n"
    # shown as Python shows it (here: to pytest's record), not printed prefixed
    with pytest.warns(UserWarning, match="careful") as record:
        assert _shown(np.__file__, capsys) == ""
    assert [w.filename for w in record] == [np.__file__]
