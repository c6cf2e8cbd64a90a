"""YAML aliases in what the ``pdesurrogate`` parsers load: a "billion laughs" (aliases of
aliases, a few hundred bytes standing for 1e8 values) is refused by its count of copies,
before jsonargparse expands it (gigabytes, minutes); aliases a real config uses pass."""

import pytest
import yaml

from pdesurrogate.cli import main
from pdesurrogate.yaml_aliases import MAX_ALIAS_COPIES, check_yaml_aliases


def _laughs(levels: int) -> str:
    """Nine aliases of nine aliases ...: 9**(levels + 1) zeros under ``times``."""
    lines = ["_a0: &a0 [" + ", ".join(["0.0"] * 9) + "]"]
    lines += [f"_a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\ntimes: [{', '.join([f'*a{levels - 1}'] * 9)}]\n"


def _shared(items: int, uses: int) -> str:
    """A list of ``items`` zeros (items + 1 values) and ``uses`` aliases of it: exactly
    uses * (items + 1) copies."""
    return (f"a: &a [{', '.join(['0'] * items)}]\n"
            f"b: [{', '.join(['*a'] * uses)}]\n")


def test_the_bound_is_exact():
    per_use = MAX_ALIAS_COPIES // 100  # copies one alias adds
    check_yaml_aliases(_shared(per_use - 1, 100), "config 'x'")  # 100 * per_use: the bound
    with pytest.raises(yaml.YAMLError, match=(
            rf"config 'x': its YAML aliases \(\*name\) stand for {101 * per_use:,} copies of "
            rf"values, more than the {MAX_ALIAS_COPIES:,} taken")):
        check_yaml_aliases(_shared(per_use - 1, 101), "config 'x'")


def test_aliases_a_config_uses_pass_and_a_recursive_one_is_refused():
    check_yaml_aliases("base: &b {lr: 0.001, n_modes: [16]}\nrun: {<<: *b, lr: 0.01}\n", "c")
    check_yaml_aliases("not: [valid yaml", "c")  # the parser's own error reports it
    with pytest.raises(yaml.YAMLError, match="refers to a value that holds the alias itself"):
        check_yaml_aliases("a: &a [1, *a]\n", "c")


def test_generate_refuses_a_billion_laughs_naming_the_file(tmp_path, capsys):
    """9**7 = 4.8 million zeros in 350 bytes (the auditor's 9**9 took jsonargparse 1.6 GB and a
    minute). The solver's registry name makes generate read the file itself first."""
    config = tmp_path / "laughs.yaml"
    config.write_text("solver: burgers1d\nsamples: 2\nout: " + str(tmp_path / "x.nc") + "\n"
                      + _laughs(6))
    rc = main(["generate", "--config", str(config)])
    err = capsys.readouterr().err
    assert rc == 2, err
    # a_i stands for (9**(i + 2) - 1) / 8 values; a_1..a_5 and times alias each 9 times
    copies = 9 * sum((9 ** (i + 2) - 1) // 8 for i in range(6))
    assert (f"config '{config}': its YAML aliases (*name) stand for {copies:,} copies of "
            "values") in " ".join(err.split()), err
    assert not (tmp_path / "x.nc").exists()


def test_fit_refuses_laughs_in_a_sub_config_file(tmp_path, capsys):
    """A class given as a path to its own YAML file (--data data.yaml) is checked too."""
    sub = tmp_path / "data.yaml"
    sub.write_text("class_path: pdesurrogate.training.FieldDataModule\ninit_args:\n  path: x.nc\n"
                   + "".join(f"  {line}\n" for line in _laughs(6).splitlines()[:-1])
                   + "  fractions: [*a5, *a5, *a5]\n")
    rc = main(["fit", "--model", "pdesurrogate.training.NextStepModule", "--data", str(sub),
               "--trainer.default_root_dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"Invalid content in sub-config file {sub}: YAML value: its YAML aliases" in err, err


@pytest.mark.parametrize("command", ["generate", "fit"])
def test_a_yaml_syntax_error_names_the_config_file(tmp_path, capsys, command):
    """A config that is not YAML is one error naming the file with YAML's line and column
    (YAML's message alone placed it in "<unicode string>")."""
    config = tmp_path / "broken.yaml"
    config.write_text("solver: burgers1d\nsamples: [2\nout: x.nc\n")
    rc = main([command, "--config", str(config)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith(f"pdesurrogate {command}: error: Problems parsing config: config "
                          f"'{config}': while parsing a flow sequence"), err
    assert "line 2, column 10" in err
