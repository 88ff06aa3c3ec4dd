"""LoRA fine-tuning of a Hugging Face model folder on a ``zili data build``.

The build's text (its shards decoded with the build's tokenizer) is re-encoded with the
model's own tokenizer, so any build fits any model. The base weights stay frozen (in
bfloat16 if the model is loaded so); only the adapters train, with AdamW through the same
optimisation step as ``zili train`` (:func:`zili.train.step.make_train_step`). The result is
an adapter folder (``adapter_model.safetensors`` + ``adapter_config.json``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zili import nn, optim
from zili.data.loader import ArrayLoader
from zili.models.evaluation import text_of
from zili.models.hub import from_pretrained
from zili.nn import functional as F  # noqa: N812 (PyTorch convention)
from zili.nn.lora import apply_lora, lora_parameters, save_lora
from zili.tensor import Tensor, no_grad
from zili.train.step import batch_tensors, make_train_step

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


class CausalLMLoss(nn.Module):
    """``(logits, mean cross-entropy)`` of a logits-returning language model, the call
    signature the training step expects."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """(logits (B, T, V), loss) for inputs ``x`` and next-token targets ``y`` (B, T)."""
        logits = self.model(x)
        b, t, v = logits.shape
        loss = F.cross_entropy(logits.reshape(b * t, v).float(), y.reshape(b * t))
        return logits, loss


@dataclass
class LoRAResult:
    """What a fine-tuning run did: the training losses and held-out loss before/after."""

    losses: list[float]
    val_before: float
    val_after: float
    out: Path
    trainable: int
    frozen: int


@no_grad()
def _held_out(wrapper: CausalLMLoss, loader: ArrayLoader, batches: int, device: Any) -> float:
    total = 0.0
    for _ in range(batches):
        x, y = batch_tensors(*loader.next_batch(), device)
        total += float(wrapper(x, y)[1].item())
    loader.position = 0  # the same windows every time
    return total / batches


def lora_finetune(model_dir: str | Path, data: str | Path, out: str | Path, rank: int = 8,
                  alpha: float | None = None, steps: int = 100, lr: float = 1e-3,
                  batch_size: int = 4, context: int = 64, dtype: Any = None,
                  device: Any = None, seed: int = 0,
                  targets: Sequence[str] = DEFAULT_TARGETS, eval_batches: int = 4,
                  log: Callable[[str], None] = print) -> LoRAResult:
    """Fine-tune adapters of rank ``rank`` (alpha defaults to 2 * rank) on the build
    ``data`` and save them into ``out``.

    Raises:
        ValueError: a model folder without tokenizer.json, or too little text for the
            context.
    """
    model = from_pretrained(model_dir, dtype=dtype, device=device)
    if model.tokenizer is None:
        raise ValueError(f"{model_dir}: no tokenizer.json, so the build's text cannot be "
                         "encoded for this model")
    encode = model.tokenizer.encode
    train_ids = np.asarray(encode(text_of(data, "train")).ids, dtype=np.int64)
    val_ids = np.asarray(encode(text_of(data, "val")).ids, dtype=np.int64)
    loader = ArrayLoader(train_ids, context, batch_size, seed=seed)
    val_loader = ArrayLoader(val_ids, min(context, len(val_ids) - 2), batch_size, seed=seed)
    wrapped = apply_lora(model, rank, alpha if alpha is not None else 2.0 * rank,
                         target_modules=targets)
    params = lora_parameters(model)
    trainable = sum(p.numel() for p in params)
    frozen = model.num_parameters() - trainable
    log(f"LoRA rank {rank} on {len(wrapped)} layers: {trainable:,} trainable parameters, "
        f"{frozen:,} frozen; {len(train_ids):,} train / {len(val_ids):,} held-out tokens")
    wrapper = CausalLMLoss(model)
    dev = model.output_weight.device
    val_before = _held_out(wrapper, val_loader, eval_batches, dev)
    optimizer = optim.AdamW(params, lr=lr, weight_decay=0.0)
    step = make_train_step(wrapper, optimizer, grad_clip=1.0)
    model.train()
    losses = []
    for i in range(steps):
        x, y = batch_tensors(*loader.next_batch(), dev)
        losses.append(step(x, y, lr))
        if i % max(steps // 10, 1) == 0 or i == steps - 1:
            log(f"step {i + 1:5d}/{steps}  loss {losses[-1]:.4f}")
    model.eval()
    val_after = _held_out(wrapper, val_loader, eval_batches, dev)
    log(f"held-out loss {val_before:.4f} -> {val_after:.4f}")
    save_lora(model, out)
    return LoRAResult(losses, val_before, val_after, Path(out), trainable, frozen)
