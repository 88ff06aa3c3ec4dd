"""Training checkpoints: what a run saves, how it is written and read back, and how a run
picks up where it stopped.

A checkpoint is one safetensors file (``zili.save``: atomic, checksummed, no pickle) that
holds the model, the optimizer, the step, the data position, the random generator, the
config, the settings, the tokenizer, the data record and the run's own choices (device,
jit, world size), so a resumed run continues bit for bit. Under data parallelism rank 0
writes it; every rank reads it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import zili
from zili.models.gpt import GPT, GPTConfig
from zili.train.settings import TrainSettings

CHECKPOINT_FORMAT = "zili-gpt-checkpoint"
CHECKPOINT_NAME = "ckpt.safetensors"


def rank_seed(seed: int, rank: int) -> int:
    """The random seed of rank ``rank``: the run's seed on rank 0, a well-mixed 64-bit
    function of (seed, rank) elsewhere, so ranks draw independent dropout masks."""
    if rank == 0:
        return int(seed) % (1 << 64)
    z = (int(seed) + 0x9E3779B97F4A7C15 * (rank + 1)) % (1 << 64)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % (1 << 64)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % (1 << 64)
    return z ^ (z >> 31)


@dataclass
class Run:
    """Everything a training run needs and a checkpoint restores.

    ``model`` is the module trained (a GPT, or a DistributedDataParallel wrapping one);
    ``loader`` has ``next_batch()``, ``state_dict()`` and ``load_state_dict()``.
    """

    model: Any
    optimizer: Any
    loader: Any
    settings: TrainSettings
    tokenizer: dict[str, Any]
    data: dict[str, Any]
    device: Any
    step: int = 0
    metrics: dict[str, Any] | None = None
    jit: bool = False  # run the training step as zili.jit-compiled plans
    rank: int = 0
    world_size: int = 1
    out: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gpt(self) -> GPT:
        """The GPT itself (unwrapped from data parallelism)."""
        return getattr(self.model, "module", self.model)

    @property
    def checkpoint_path(self) -> Path | None:
        """``out/ckpt.safetensors``, or None when the run saves nothing."""
        return self.out / CHECKPOINT_NAME if self.out is not None else None

    def checkpoint(self) -> dict[str, Any]:
        """The run's state as a nested dict for ``zili.save``."""
        return {
            "format": CHECKPOINT_FORMAT,
            "version": 1,
            "model": self.gpt.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "loader": self.loader.state_dict(),
            "rng": zili.get_rng_state(),
            "config": self.gpt.config.to_dict(),
            "settings": asdict(self.settings),
            "tokenizer": self.tokenizer,
            "data": self.data,
            "metrics": self.metrics or {},
            "run": {"device": self.device.name, "jit": bool(self.jit),
                    "world_size": self.world_size},
        }

    def save(self, path: str | Path | None = None) -> Path | None:
        """Write the checkpoint atomically (rank 0 only) and return its path.

        ``path`` defaults to :attr:`checkpoint_path`. Other ranks return None at once: they
        hold the same parameters (data parallelism keeps them equal).
        """
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None or self.rank != 0:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        zili.save(self.checkpoint(), str(path))
        return path

    def restore(self, state: dict[str, Any]) -> None:
        """Take model, optimizer, step, data position and RNG from a loaded checkpoint.

        Every rank restores the same parameters; rank ``r`` continues its own random stream
        (the counter is the same on every rank, the seed is :func:`rank_seed`).
        """
        self.gpt.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.loader.load_state_dict(state["loader"])
        rng = dict(state["rng"])
        rng["seed"] = rank_seed(int(rng["seed"]), self.rank)
        zili.set_rng_state(rng)
        self.step = int(state["step"])
        self.metrics = dict(state.get("metrics") or {})


def remove_stale_temporaries(folder: str | Path, name: str = CHECKPOINT_NAME) -> list[Path]:
    """Delete the temporary files a killed checkpoint write left in ``folder``
    (``.NAME.*.tmp``, see :func:`zili.files.atomic_write`); returns what was removed."""
    removed = []
    folder = Path(folder)
    if folder.is_dir():
        for tmp in folder.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint written by :meth:`Run.save`.

    Raises:
        FileNotFoundError: no file at ``path``.
        IsADirectoryError: ``path`` is a folder (the message names the file inside it).
        ValueError: the file is not a zili GPT checkpoint (``zili.io.CheckpointError`` when
            it is damaged or malformed).
    """
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a directory, not a file; pass the "
                                f"checkpoint inside it ({p / CHECKPOINT_NAME})")
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; train one with "
                                "`zili train --out DIR` (it writes DIR/ckpt.safetensors)")
    state = zili.load(str(path))
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a zili GPT checkpoint (no format="
                         f"{CHECKPOINT_FORMAT!r} entry)")
    return state


def model_from_checkpoint(state: dict[str, Any], device: Any = None) -> GPT:
    """A GPT with the checkpoint's config and weights, on ``device``, in eval mode."""
    model = GPT(GPTConfig.from_dict(state["config"]))
    model.load_state_dict(state["model"])
    if device is not None:
        model.to(device)
    return model.eval()
