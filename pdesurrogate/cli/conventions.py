"""What every command's parser shares: whole option names only, and what its exit status
means (each command's --help ends with it)."""

from __future__ import annotations

# Every parser here takes whole option names only: argparse would otherwise take a prefix for
# the option it begins (--trainer.max_epoch for --trainer.max_epochs, --ckpt for --ckpt_path,
# --sample for --samples), and a misspelt key would be a silent guess instead of an error.
NO_ABBREVIATIONS = {"allow_abbrev": False}


# what every command's exit status means, for scripts (Make, Snakemake, CI) that branch on it;
# online adds its own (1, 3) to its --help
EXIT_STATUS = (
    "Exit status: 0 done; 2 an error, said on stderr in a line starting 'pdesurrogate "
    "COMMAND: error:' (a bad option or value, a missing input, an existing output without "
    "--overwrite, a failure on the way); 130 stopped by Ctrl-C, 143 by SIGTERM; 141 stdout "
    "closed early (| head, | grep -q), as SIGPIPE would; 1 an unexpected error (a traceback: "
    "a bug to report).")
