"""Text that a UTF-8 file or font can take, from a name that Python decoded under a locale
that is not UTF-8."""

from __future__ import annotations


def storable_text(text: str) -> str:
    """``text`` as UTF-8 can hold it. Under a locale that is not UTF-8 (``LC_ALL=C`` without
    Python's coercion) Python decodes file names and ``sys.argv`` with ``surrogateescape``:
    ``data/ν.nc`` arrives as two lone surrogates, which no UTF-8 file accepts. Their bytes
    are read back as UTF-8, the encoding the name was typed in; bytes that are not UTF-8 (a
    latin-1 name) become ``\\xNN``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape") if all(
            not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text) \
            else text.encode("utf-8", "backslashreplace")
        return raw.decode("utf-8", "backslashreplace")
