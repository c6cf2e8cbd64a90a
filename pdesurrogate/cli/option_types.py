"""argparse types of option values: file paths, and comma-separated lists (``--param-names``,
``--channels``)."""

from __future__ import annotations

import argparse


def _path(text: str) -> str:
    """A file or folder path as given; an empty one is an error (it named the current folder:
    predict --out '' failed on "PosixPath('.') has an empty name", export OUTDIR '' asked for
    --overwrite of '.', predict --plot '' drew nothing without a word)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def _names(text: str) -> list[str]:
    """``"nu,kappa"`` -> ``["nu", "kappa"]``; an empty name is an error."""
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def _channel_pairs(text: str) -> dict[str, str]:
    """``"nu=a,k=b"`` -> ``{"nu": "a", "k": "b"}`` (``--channels``); anything else is an error."""
    pairs = [item.split("=") for item in _names(text)]
    if not all(len(p) == 2 and all(n.strip() for n in p) for p in pairs) \
            or len({p[0].strip() for p in pairs}) != len(pairs):
        raise argparse.ArgumentTypeError(f"expected FILE_CHANNEL=MODEL_CHANNEL pairs, comma-"
                                          f"separated, each file channel once, got {text!r}")
    return {f.strip(): m.strip() for f, m in pairs}
