"""A ``--config`` file that is YAML but holds no options (empty, only comments, a list, a lone
value), refused naming the file: jsonargparse's own error printed the text alone,
``Unexpected config: - 1``, or for an empty file ``Unexpected config:`` and nothing."""

from __future__ import annotations

import os
from collections.abc import Sequence


def config_without_options(argv: Sequence[str]) -> str | None:
    """The error for the first ``--config FILE`` / ``--config=FILE`` / ``-c FILE`` of
    ``argv`` whose YAML is not a mapping of options; None when all are, or when one is no
    readable UTF-8 YAML file (the parser, or :func:`~pdesurrogate.text_locale.non_utf8_config`,
    reports that, naming the file and line). yaml is imported only for a config file: a
    command without one (``configs``) must run where libraries are missing, to say so."""
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name not in ("--config", "-c") or (eq and name == "-c") \
                or not (eq or i + 1 < len(argv)):
            continue
        path = value if eq else argv[i + 1]
        import yaml

        try:
            if not os.path.isfile(path):  # a FIFO is never opened: it would block
                continue
            with open(path, "rb") as f:
                text = f.read().decode("utf-8-sig")
            # composed, not built: aliases are not expanded (pdesurrogate.yaml_aliases)
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except (OSError, ValueError, yaml.YAMLError):
            continue
        if root is None:
            return (f"config {path!r} holds no options (it is empty or only comments); "
                    "expected 'key: value' lines")
        if not isinstance(root, yaml.MappingNode):
            what = ("a list" if isinstance(root, yaml.SequenceNode)
                    else f"the single value {root.value!r}")
            return f"config {path!r} holds {what}, not options; expected 'key: value' lines"
    return None
