"""``--model-class MODULE.CLASS`` of ``export``, ``predict`` and ``compare``: a model class of the
user's own code, imported by the name the user typed (never by one read from a file)."""

from __future__ import annotations

MODEL_CLASS_HELP = (
    "a model of your own code that the export holds, as MODULE.CLASS (e.g. mynet.MyNet; several "
    "comma-separated): MODULE is imported (put its folder on PYTHONPATH, as for fit) and the "
    "class handed over. Only what is typed here is imported, never a name read from a file")


def _own_models(names: list[str] | None) -> dict:
    """``{qualified name: class}`` for each ``MODULE.CLASS`` of ``--model-class``, its module
    imported: the ``models=`` that lets an export naming it build. The user typed these names,
    as they type a fit config's ``class_path``; a name read from ``config.json`` or a
    checkpoint is never imported. One ValueError naming the flag for a name that is not
    MODULE.CLASS, a module that cannot be found, or an attribute that is no model class; an
    error raised inside the user's module comes through as it is."""
    import importlib

    from torch import nn

    from pdesurrogate.models import qualified_name

    models = {}
    for text in names or []:
        parts = text.split(".")
        if len(parts) < 2 or not all(p.isidentifier() for p in parts):
            raise ValueError(f"--model-class {text!r}: expected MODULE.CLASS, e.g. mynet.MyNet")
        obj, rest = None, []
        for i in range(len(parts) - 1, 0, -1):  # the longest prefix that is a module
            module = ".".join(parts[:i])
            try:
                obj, rest = importlib.import_module(module), parts[i:]
                break
            except ModuleNotFoundError as e:
                # only this name missing means "not a module here"; a module missing inside
                # the user's code is their error, shown as it is
                if e.name is None or not (module == e.name or module.startswith(e.name + ".")):
                    raise
        if obj is None:
            raise ValueError(f"--model-class {text!r}: No module named {parts[0]!r}; put the "
                             f"folder that holds {parts[0]}.py on PYTHONPATH (e.g. "
                             "PYTHONPATH=. for the current folder)")
        for attr in rest:
            if not hasattr(obj, attr):
                raise ValueError(f"--model-class {text!r}: {obj.__name__!r} has no {attr!r}")
            obj = getattr(obj, attr)
        if not isinstance(obj, type) or not issubclass(obj, nn.Module):
            raise ValueError(f"--model-class {text!r} is {obj!r}, not an nn.Module class")
        # under the name a fit records it by (mynet.MyNet typed for mynet.core.MyNet too)
        models[qualified_name(obj)] = obj
    return models
