"""A ``--config`` file that holds no options (empty, only comments, a list, a lone value) is
one error naming the file; jsonargparse's said ``Unexpected config:`` and the text alone."""

import pytest

from pdesurrogate.cli import main


@pytest.mark.parametrize("text, said", [
    ("", "holds no options (it is empty or only comments)"),
    ("# samples: 2\n", "holds no options (it is empty or only comments)"),
    ("- 1\n- 2\n", "holds a list, not options"),
    ("hello\n", "holds the single value 'hello', not options"),
])
@pytest.mark.parametrize("command, flag", [("generate", "--config"), ("fit", "-c"),
                                           ("online", "--config=")])
def test_a_config_without_options_is_named(tmp_path, capsys, text, said, command, flag):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    argv = [f"{flag}{config}"] if flag.endswith("=") else [flag, str(config)]
    assert main([command, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pdesurrogate {command}: error: config {str(config)!r} {said}; "
                          "expected 'key: value' lines"), err


def test_a_config_of_options_passes_the_check(tmp_path, capsys):
    """A mapping goes on to the parser, which names a misspelled key."""
    config = tmp_path / "c.yaml"
    config.write_text("sampels: 2\n")
    assert main(["generate", "--config", str(config)]) == 2
    assert "'sampels' is not accepted" in capsys.readouterr().err
