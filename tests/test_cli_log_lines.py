"""What the commands print on stderr when it is a file (a Slurm log, ``2> log``, CI), not a
terminal: whole lines, not folded at rich's 80 columns, so a path or a number can be grepped
and copied from the log."""

from pdesurrogate.cli import main


def test_generate_says_where_it_wrote_on_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("COLUMNS", raising=False)
    out = tmp_path / ("burgers_" + "x" * 60 + ".nc")
    assert main(["generate", "--solver", "burgers1d", "--solver.n_points", "16", "--samples",
                 "2", "--n_times", "3", "--workers", "1", "--out", str(out)]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert [line for line in lines if line.startswith(f"wrote {out}: 2 samples in ")], lines
    assert not any("\x1b" in line for line in lines), lines
