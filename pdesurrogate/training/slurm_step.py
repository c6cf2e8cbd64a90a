"""Ranks of a fit that ``srun`` started inside an ``salloc`` shell.

salloc names its job ``interactive`` unless told otherwise (``salloc -J NAME``), and Lightning
takes a job named ``interactive`` or ``bash`` for a shell in which it starts the processes
itself: it then ignores Slurm's variables. When ``srun`` has already started several tasks,
each task believes it is rank 0 and the DDP rendezvous waits forever (seen on a 2-node salloc:
``srun pdesurrogate fit --trainer.num_nodes 2`` hung until killed). ``pdesurrogate fit`` then
hands Lightning its ``SLURMEnvironment`` itself (:func:`srun_tasks_lightning_ignores`).
"""

from __future__ import annotations

from collections.abc import Mapping

# job names for which Lightning's SLURMEnvironment.detect() says "not Slurm"
INTERACTIVE_NAMES = ("bash", "interactive")
# variables by which a user or another launcher sets the ranks of its own processes
OWN_RANKS = ("NODE_RANK", "LOCAL_RANK", "GROUP_RANK", "TORCHELASTIC_RUN_ID")


def srun_tasks_lightning_ignores(environ: Mapping[str, str]) -> int:
    """The task count of this ``srun`` step if it has several tasks that Lightning would not
    see (the job named ``bash`` or ``interactive``, no rank variables of the user's own); else
    0. A batch script's own shell, or ``srun`` of one task, is 0: Lightning's defaults suit
    those."""
    if "SLURM_STEP_ID" not in environ and "SLURM_STEPID" not in environ:
        return 0
    if environ.get("SLURM_JOB_NAME") not in INTERACTIVE_NAMES:
        return 0
    if any(k in environ for k in OWN_RANKS):
        return 0
    try:
        tasks = int(environ.get("SLURM_STEP_NUM_TASKS") or environ.get("SLURM_NTASKS") or 1)
    except ValueError:
        return 0
    return tasks if tasks > 1 else 0
