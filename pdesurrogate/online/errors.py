"""The one error that ``pdesurrogate online`` prints as a usage error: :class:`UsageError`."""

from __future__ import annotations


class UsageError(ValueError):
    """A bad option or config value, found by this package's own checks (which name the key)
    before the MPI job starts: ``pdesurrogate online`` prints the message alone, as it does a
    parse error, and exits 2. One found inside the job (e.g. GPUs the trainer ranks cannot be
    placed on) is printed alone by its rank, which then aborts the job. Other errors keep their
    type name in the message."""
