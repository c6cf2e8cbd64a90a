"""YAML aliases (``*name``) bounded: a config of a few hundred bytes must not stand for a
billion values ("billion laughs"). :func:`check_yaml_aliases` counts what a text's aliases
expand to without expanding them; :func:`bound_yaml_aliases` has jsonargparse check every YAML
it loads (config files, sub-configs, values on the command line) that way first.
"""

from __future__ import annotations

import os

from .text_locale import config_text, yaml_load_escaped

# copies of values that YAML aliases (*name) may add to a config or value: far more than any
# config shares, far less than a "billion laughs" (nine aliases of nine aliases of ... : a
# 464-byte file stood for 4e8 values and took jsonargparse 1.6 GB and a minute to expand)
MAX_ALIAS_COPIES = 100_000


def _yaml_children(node) -> list:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def check_yaml_aliases(text: str, where: str) -> None:
    """Refuse YAML ``text`` whose aliases (``*name``) stand for more than
    :data:`MAX_ALIAS_COPIES` copies of values, or for a value that contains itself; ``where``
    names it in the error (a yaml.YAMLError, as for any YAML the parsers refuse). The text is
    composed, not built: the count costs the written size, not the expanded one. Text that is
    not YAML passes (its parser reports it)."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return
    if root is None:
        return
    size: dict[int, int] = {}  # id(node) -> values it stands for, itself included
    path: set[int] = set()  # the nodes being counted: met again below itself, it recurs
    stack = [(root, False)]
    while stack:  # depth first without recursion: deep nesting needs no deep stack
        node, done = stack.pop()
        if done:
            path.discard(id(node))
            size[id(node)] = 1 + sum(size[id(c)] for c in _yaml_children(node))
        elif id(node) in path:
            raise yaml.YAMLError(f"{where}: a YAML alias (*name) refers to a value that "
                                 "holds the alias itself, which would expand forever")
        elif id(node) not in size:
            path.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in _yaml_children(node))
    copies = size[id(root)] - len(size)
    if copies > MAX_ALIAS_COPIES:
        raise yaml.YAMLError(
            f"{where}: its YAML aliases (*name) stand for {copies:,} copies of values, more "
            f"than the {MAX_ALIAS_COPIES:,} taken ({len(size):,} values are written out); "
            "write the values out instead")


def bound_yaml_aliases() -> None:
    """Have jsonargparse check every YAML it loads (config files, sub-config files, values on
    the command line) with :func:`check_yaml_aliases` before its own loader expands it. Set
    once per process (jsonargparse has one loader per mode) by each subcommand that parses
    with jsonargparse: generate, fit, test, online."""
    import yaml
    from jsonargparse import get_loader, set_loader

    plain = get_loader("yaml")
    if getattr(plain, "checks_aliases", False):
        return

    def load(text: str, path: str | os.PathLike = "") -> object:
        # jsonargparse gives a config file's base name, from within the file's folder
        where = f"config {os.path.abspath(path)!r}" if path else "YAML value"

        def checked(text: str) -> object:
            check_yaml_aliases(text, where)
            return plain(text)

        try:
            try:
                return yaml_load_escaped(checked, text)
            except yaml.YAMLError:
                # a UTF-8 config read in a latin-1 locale: an en dash is three characters
                # there, one a control character YAML refuses. Read as UTF-8 only then: the
                # configs fit saves in that locale hold its file names in its encoding
                utf8 = config_text(text) if path else text
                if utf8 == text:
                    raise
                return yaml_load_escaped(checked, utf8)
        except yaml.YAMLError as e:
            # YAML's own message places the error in "<unicode string>", naming no file
            if not path or str(e).startswith(where):
                raise
            raise yaml.YAMLError(f"{where}: {e}") from None

    load.checks_aliases = True  # type: ignore[attr-defined]
    set_loader("yaml", load, (yaml.YAMLError,))
