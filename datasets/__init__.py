"""On-disk datasets: our netCDF schema, PDEBench and The Well readers, torch Datasets over
files, normalisation statistics and the generation driver.

Public API: :func:`open_dataset`, :class:`FieldData`, :class:`FileSet`, :class:`DatasetWriter`,
:class:`OneStepPairs`, :class:`AllPairs`, :class:`Trajectories`, :func:`split_indices`,
:class:`ChannelStats`, :func:`compute_stats`, :func:`generate_dataset`.

Where each lives: ``generate.py`` (``pdesurrogate generate``: solver -> file; its worker
processes: ``lanes.py``) writes through ``ourformat.py`` (our file's schema,
:class:`DatasetWriter`); ``reader.py`` (:func:`open_dataset`, :class:`FieldData`) reads our
files, ``pdebench.py`` and ``the_well.py`` (their layouts) through ``lazy.py`` (lazy views);
``file_set.py`` (:class:`FileSet`) reads a folder of files as one;
``torch_datasets.py`` (torch Datasets over a :class:`FieldData`), ``normalization.py``
(:class:`ChannelStats`), ``source.py`` and ``fingerprint.py`` (what a model was trained on),
``temp_files.py``, ``progress.py`` and ``storable_text.py`` (a name from a locale that is not
UTF-8, as UTF-8 text).
"""

import importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    # the names _LAZY resolves at run time, spelt out for type checkers and IDEs (they do not
    # run __getattr__, and without this `open_dataset(...)` is typed Any)
    from .file_set import FileSet as FileSet
    from .generate import GenerateReport as GenerateReport
    from .generate import GenerationError as GenerationError
    from .generate import generate_dataset as generate_dataset
    from .normalization import ChannelStats as ChannelStats
    from .normalization import compute_stats as compute_stats
    from .ourformat import DatasetWriter as DatasetWriter
    from .reader import FieldData as FieldData
    from .reader import open_dataset as open_dataset
    from .torch_datasets import AllPairs as AllPairs
    from .torch_datasets import OneStepPairs as OneStepPairs
    from .torch_datasets import Trajectories as Trajectories
    from .torch_datasets import split_indices as split_indices

# name -> submodule; imported on first use, so a light submodule (``temp_files``, standard
# library only) loads without the readers' torch, h5py and xarray (seconds)
_LAZY = {
    "GenerateReport": "generate", "GenerationError": "generate", "generate_dataset": "generate",
    "ChannelStats": "normalization", "compute_stats": "normalization",
    "DatasetWriter": "ourformat", "FileSet": "file_set",
    "FieldData": "reader", "open_dataset": "reader",
    "AllPairs": "torch_datasets", "OneStepPairs": "torch_datasets",
    "Trajectories": "torch_datasets", "split_indices": "torch_datasets",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    try:  # a submodule reached as an attribute (``pdesurrogate.datasets.reader``)
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
