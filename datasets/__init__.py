"""On-disk datasets: our netCDF schema, PDEBench and The Well readers, torch Datasets over
files, normalisation statistics and the generation driver.

Public API: :func:`open_dataset`, :class:`FieldData`, :class:`DatasetWriter`,
:class:`OneStepPairs`, :class:`AllPairs`, :class:`Trajectories`, :func:`split_indices`,
:class:`ChannelStats`, :func:`compute_stats`, :func:`generate_dataset`.
"""

from .generate import GenerateReport, GenerationError, generate_dataset
from .normalization import ChannelStats, compute_stats
from .ourformat import DatasetWriter
from .reader import FieldData, open_dataset
from .torch_datasets import AllPairs, OneStepPairs, Trajectories, split_indices

__all__ = [
    "AllPairs",
    "ChannelStats",
    "DatasetWriter",
    "FieldData",
    "GenerateReport",
    "GenerationError",
    "OneStepPairs",
    "Trajectories",
    "compute_stats",
    "generate_dataset",
    "open_dataset",
    "split_indices",
]
