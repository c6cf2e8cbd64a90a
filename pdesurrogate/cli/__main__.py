"""``python -m pdesurrogate.cli ARGS``: the ``pdesurrogate`` command run from this package, as
the benchmarks and tests start it (the current folder goes first on the import path, as ``-m``
puts it; the online launcher's ranks run ``pdesurrogate.online.launcher.BOOTSTRAP`` instead)."""

import sys

from pdesurrogate.cli import main

if __name__ == "__main__":
    sys.exit(main())
