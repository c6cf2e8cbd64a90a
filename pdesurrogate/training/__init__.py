"""Lightning training: :class:`NextStepModule` (next-step / rollout training of any model of our
interface) and :class:`FieldDataModule` (loaders over a dataset file); :class:`All2AllModule`
and :class:`All2AllDataModule` (models that take a lead time, e.g. scOT: any frame to any later
one); :class:`RefinerModule` (PDE-Refiner's denoising refinement); :class:`SteadyModule` and
:class:`SteadyDataModule` (steady problems, one saved time per sample: input channels ->
target channels, e.g. Darcy flow's a -> u). Fit callbacks and helpers
live in this package's other modules (signals, resume order, logging)."""

from .all2all import All2AllDataModule, All2AllModule, relative_l1
from .datamodule import FieldDataModule, RolloutWindows, StridedTrajectories
from .losses import relative_l2
from .next_step import NextStepModule, curriculum_fraction, teacher_forced_steps
from .refiner import RefinerModule, high_correlation_time, pearson_correlation
from .steady import SteadyModule
from .steady_data import SteadyDataModule

__all__ = ["FieldDataModule", "NextStepModule", "RolloutWindows", "StridedTrajectories",
           "curriculum_fraction", "relative_l2", "teacher_forced_steps",
           "All2AllDataModule", "All2AllModule", "RefinerModule", "high_correlation_time",
           "pearson_correlation", "relative_l1", "SteadyDataModule", "SteadyModule"]
