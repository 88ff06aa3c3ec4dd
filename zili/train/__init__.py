"""``zili.train``: the GPT training loop as a library (the ``zili train`` and ``zili demo``
commands are thin shells over it).

- :mod:`~zili.train.settings`: :class:`TrainSettings`, the learning-rate schedule;
- :mod:`~zili.train.step`: one optimisation step, eager or ``zili.jit``-compiled, on one
  process or data-parallel;
- :mod:`~zili.train.loop`: :func:`fit` (the loop, evaluation, checkpoints, Ctrl-C, a
  wall-clock cap) and :func:`evaluate`;
- :mod:`~zili.train.checkpoint`: :class:`Run`, saving, loading and exact resuming;
- :mod:`~zili.train.setup`: new and resumed runs, joining an MPI job;
- :mod:`~zili.train.data`: per-rank rows of one global batch stream.
"""

from zili.train.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    Run,
    load_checkpoint,
    model_from_checkpoint,
    rank_seed,
    remove_stale_temporaries,
)
from zili.train.data import RankBatches
from zili.train.loop import evaluate, fit
from zili.train.settings import TrainSettings, lr_at
from zili.train.setup import (
    RunSpec,
    create_run,
    init_distributed,
    resume_spec,
    source_from_record,
)
from zili.train.step import batch_tensors, make_optimizer, make_train_step

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_NAME", "RankBatches", "Run", "RunSpec",
           "TrainSettings", "batch_tensors", "create_run", "evaluate", "fit",
           "init_distributed", "load_checkpoint", "lr_at", "make_optimizer",
           "make_train_step", "model_from_checkpoint", "rank_seed", "remove_stale_temporaries",
           "resume_spec", "source_from_record"]
