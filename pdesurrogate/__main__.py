"""``python -m pdesurrogate ARGS``: the ``pdesurrogate`` command, for an environment whose
scripts folder is not on ``PATH`` (a venv that is not activated, ``pip install --user``)."""

import sys

from pdesurrogate.cli import main

if __name__ == "__main__":
    sys.exit(main())
