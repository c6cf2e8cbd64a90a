"""Text under a locale that is not UTF-8: ``LC_ALL=C`` with Python's own remedies turned off
(``PYTHONCOERCECLOCALE=0 PYTHONUTF8=0``, as some Slurm and container setups run), where
Python's text encoding is ASCII.

* :func:`utf8_text_files`: files opened in text mode are read and written as UTF-8, not
  ASCII. YAML is UTF-8 by its specification, so a config with ``# nu = 0.01`` written as
  ``ν`` in a comment was refused with a UnicodeDecodeError that named no file.
* :func:`escape_unencodable_output`: stdout that cannot encode a character
  (``PYTHONIOENCODING=ascii``, or ASCII under ``LC_ALL=C``) writes it as ``\\xe9`` /
  ``\\u03bd``, as stderr already does, instead of failing the command after its work was
  done ("wrote 19 configs to été/" ended ``configs --copy`` with status 2).
* :func:`non_utf8_config` and :func:`config_text`: a ``--config`` file that is not UTF-8 (saved
  in latin-1) is one error naming it and the first bad byte, instead of a UnicodeDecodeError
  that named no file; under a latin-1 locale a UTF-8 config that YAML refuses in that
  reading (``\u2013`` in a comment: "control characters are not allowed") is read as UTF-8.
* :func:`yaml_load_escaped`: file names and ``sys.argv`` stay decoded with
  ``surrogateescape`` (``data/ν.nc`` arrives as lone surrogates, one a byte), which both of
  PyYAML's parsers refuse; jsonargparse parses every value given on the command line as YAML,
  so ``--data.path data/ν.nc`` failed with "surrogates not allowed". Such text is parsed
  with each escaped byte stood in for by a private-use character, and the strings of the
  result get their bytes back.
* :func:`has_escaped_bytes`: such a name, which a library that takes a str as UTF-8 (torch's
  memory map of a checkpoint) cannot open.
"""

from __future__ import annotations

import codecs
import locale
import re
import sys
from collections.abc import Callable

# U+10FC80 .. U+10FCFF stand for the escaped bytes 0x80 .. 0xFF (U+DC80 .. U+DCFF): characters
# YAML takes as printable, from a private-use plane no config writes
_ESCAPED = range(0xDC80, 0xDD00)
_STAND_IN = 0x10FC80 - 0xDC80
# a JSON / YAML escape of one of them, after an even number of backslashes
_JSON_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u[dD][cC]([89a-fA-F][0-9a-fA-F])")


def utf8_text_files() -> bool:
    """Make UTF-8 the encoding of text files this process opens without naming one, where
    the locale's is ASCII (the C/POSIX locale without Python's coercion or UTF-8 mode), as
    Python's own C locale coercion (PEP 538) would have; True when changed. Any other locale
    (latin-1 included) is the user's choice and kept. Names of files and ``sys.argv`` keep the
    encoding Python started with."""
    try:
        if codecs.lookup(locale.getencoding()).name != "ascii":
            return False
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
    except (LookupError, locale.Error):
        return False  # no C.UTF-8 on this system: text stays ASCII
    return codecs.lookup(locale.getencoding()).name == "utf-8"


def _restore(value: object, back: dict[int, int]) -> object:
    if isinstance(value, str):
        return value.translate(back)
    if isinstance(value, dict):
        return {_restore(k, back): _restore(v, back) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v, back) for v in value]
    return value


def yaml_load_escaped(load: Callable[[str], object], text: str) -> object:
    """``load(text)``, where ``text`` may hold bytes escaped by ``surrogateescape`` (a file
    name under a locale that is not UTF-8): they are parsed as private-use characters and
    given back in the strings (keys too) of the result, so the name still opens the file."""
    if any(ord(c) - _STAND_IN in _ESCAPED for c in text):
        return load(text)
    there = {c: c + _STAND_IN for c in _ESCAPED}
    # as JSON writes them (jsonargparse dumps a value as JSON and loads it back as YAML):
    # "\udcc3", which YAML refuses as a lone surrogate
    escaped = _JSON_ESCAPE.sub(lambda m: f"{m[1]}\\U0010FC{m[2]}", text.translate(there))
    if escaped == text:
        return load(text)
    return _restore(load(escaped), {v: k for k, v in there.items()})


def has_escaped_bytes(name: str) -> bool:
    """Whether ``name`` holds bytes Python escaped with ``surrogateescape`` (a file name in a
    locale that is not UTF-8, or not UTF-8 itself), which a library that takes a str as UTF-8
    (torch's memory map of a checkpoint) refuses: "surrogates not allowed"."""
    return any(ord(c) in _ESCAPED for c in name)


def _escape(err: UnicodeError) -> tuple[bytes, int]:
    """A codec error handler: a byte escaped by ``surrogateescape`` (a file name) is written
    as that byte, as ``surrogateescape`` would; any other character as ``backslashreplace``
    would."""
    if not isinstance(err, UnicodeEncodeError):
        raise err
    out = b"".join(bytes([ord(c) - 0xDC00]) if ord(c) in _ESCAPED
                   else c.encode("ascii", "backslashreplace")
                   for c in err.object[err.start:err.end])
    return out, err.end


ESCAPE_ERRORS = "pdesurrogate.escape"
codecs.register_error(ESCAPE_ERRORS, _escape)


def escape_unencodable_output() -> None:
    """Have stdout write what its encoding lacks escaped (:func:`_escape`) instead of raising
    UnicodeEncodeError, where its encoding is not UTF-8 and its errors are Python's defaults
    (``strict``; ``surrogateescape`` under the C locale). A UTF-8 stdout, or one whose errors
    the user chose (``PYTHONIOENCODING=ascii:replace``), is kept."""
    stream = sys.stdout
    try:
        if stream is None or stream.errors not in ("strict", "surrogateescape") or \
                codecs.lookup(stream.encoding).name == "utf-8":
            return
        stream.reconfigure(errors=ESCAPE_ERRORS)
    except (AttributeError, LookupError, ValueError, OSError):
        return  # not a text stream Python made (a test's, a wrapper): left as it is


def non_utf8_config(argv: list[str]) -> str | None:
    """The error for the first ``--config FILE`` / ``--config=FILE`` of ``argv`` that is not
    UTF-8 text (with or without a byte order mark), naming the file, the byte and its line
    and column; None when all are (or are YAML text, or no file, which the parser reports)."""
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name != "--config" or not (eq or i + 1 < len(argv)):
            continue
        path = value if eq else argv[i + 1]
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except (OSError, ValueError):
            continue  # YAML text, or a file the parser reports as missing or unreadable
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw.count(b"\n", 0, e.start) + 1
            column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
            return (f"config {path!r} is not UTF-8 text (byte 0x{raw[e.start]:02x} at line "
                    f"{line}, column {column}); YAML files are UTF-8: convert it, e.g. "
                    f"iconv -f latin1 -t utf-8 {path} > utf8.yaml")
    return None


def config_text(text: str) -> str:
    """A config file's text as read in the locale's encoding (jsonargparse opens it without
    naming one), read again as UTF-8, the encoding of YAML: under a latin-1 locale ``\u2013``
    arrived as three characters, one a control character YAML refuses. Text that is not
    UTF-8 in that reading is kept as read; and so is text under a UTF-8 locale."""
    encoding = locale.getpreferredencoding(False)
    try:
        if codecs.lookup(encoding).name == "utf-8":
            return text
        return text.encode(encoding).decode("utf-8")
    except (LookupError, UnicodeError):
        return text
