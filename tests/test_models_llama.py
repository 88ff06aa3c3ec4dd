"""The LLaMA/Qwen2 family against Hugging Face transformers (PyTorch CPU) as the oracle.

Small random models are built from LlamaConfig/Qwen2Config in code, saved with
``save_pretrained`` (single file, sharded, bfloat16) and loaded with
``zili.models.from_pretrained``; logits, greedy generation and the KV cache are compared.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import zili
from zili.models import from_pretrained, save_pretrained
from zili.models.generation import filter_logits, left_pad

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SMALL = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
             num_attention_heads=4)

CASES = {
    # GQA, llama3 rope scaling, attention bias, untied head, sharded files
    "llama-llama3-bias-sharded": ("llama", dict(
        num_key_value_heads=2, attention_bias=True, max_position_embeddings=64,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8}),
        {"max_shard_size": "20KB"}),
    "llama-linear": ("llama", dict(num_key_value_heads=1, rope_theta=500.0,
                                   rope_scaling={"rope_type": "linear", "factor": 2.0}), {}),
    # sequences longer than max_position_embeddings make the NTK base grow
    "llama-dynamic-tied": ("llama", dict(
        num_key_value_heads=2, max_position_embeddings=8, tie_word_embeddings=True,
        rope_scaling={"rope_type": "dynamic", "factor": 2.0}), {}),
    "llama-yarn": ("llama", dict(
        num_key_value_heads=4, max_position_embeddings=64,
        rope_scaling={"rope_type": "yarn", "factor": 4.0,
                      "original_max_position_embeddings": 8}), {}),
    # q/k/v biases, tied embeddings, a sliding window on the second layer
    "qwen2-sliding-tied": ("qwen2", dict(
        num_key_value_heads=2, tie_word_embeddings=True, use_sliding_window=True,
        sliding_window=4, max_window_layers=1, rope_theta=1e6), {}),
}


def _hf_model(kind: str, options: dict):
    torch.manual_seed(0)
    if kind == "llama":
        config = transformers.LlamaConfig(**SMALL, **options)
        return transformers.LlamaForCausalLM(config).eval()
    config = transformers.Qwen2Config(**SMALL, **options)
    return transformers.Qwen2ForCausalLM(config).eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> (transformers model, folder it was saved to)."""
    out = {}
    for name, (kind, options, save) in CASES.items():
        model = _hf_model(kind, options)
        folder = tmp_path_factory.mktemp(name)
        model.save_pretrained(folder, **save)
        out[name] = (model, str(folder))
    return out


def _ids(batch: int, steps: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, SMALL["vocab_size"], (batch, steps))


def _hf_logits(model, ids: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    with torch.no_grad():
        kwargs = {} if mask is None else {"attention_mask": torch.tensor(mask)}
        return model(torch.tensor(ids), **kwargs).logits.float().numpy()


@pytest.mark.parametrize("name", list(CASES))
def test_logits_match_transformers(saved, name, device):
    hf, folder = saved[name]
    model = from_pretrained(folder, device=device)
    ids = _ids(2, 13)
    got = model(ids).detach().numpy()
    assert got.shape == (2, 13, SMALL["vocab_size"])
    np.testing.assert_allclose(got, _hf_logits(hf, ids), atol=1e-4, rtol=0)


def test_sharded_folder_really_has_shards(saved):
    _, folder = saved["llama-llama3-bias-sharded"]
    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        files = set(json.load(f)["weight_map"].values())
    assert len(files) > 1


def test_bfloat16_checkpoint_stays_bfloat16_and_memory_mapped(tmp_path):
    hf = _hf_model("qwen2", dict(num_key_value_heads=2)).to(torch.bfloat16)
    hf.save_pretrained(tmp_path)
    model = from_pretrained(tmp_path, device="numpy")
    weight = model.model.layers[0].mlp.up_proj.weight
    assert weight.dtype is zili.bfloat16
    base = weight.buffer
    while not isinstance(base, np.memmap) and getattr(base, "base", None) is not None:
        base = base.base
    assert isinstance(base, np.memmap), "weights should be views of the mapped file"
    # float32 logits of the bfloat16 weights, against transformers upcast to float32
    as_float = from_pretrained(tmp_path, dtype="float32", device="numpy")
    ids = _ids(1, 9)
    np.testing.assert_allclose(as_float(ids).detach().numpy(), _hf_logits(hf.float(), ids),
                               atol=1e-4, rtol=0)


def test_greedy_32_tokens_identical_to_transformers(saved, device):
    hf, folder = saved["llama-llama3-bias-sharded"]
    model = from_pretrained(folder, device=device)
    ids = _ids(1, 5, seed=3)
    with torch.no_grad():
        want = hf.generate(torch.tensor(ids), max_new_tokens=32, do_sample=False,
                           min_new_tokens=32, pad_token_id=0).numpy()
    got = model.generate(ids, max_new_tokens=32, temperature=0).numpy()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["qwen2-sliding-tied", "llama-yarn"])
def test_kv_cache_decoding_equals_full_recompute(saved, name):
    _, folder = saved[name]
    model = from_pretrained(folder, device="cpu")
    ids = _ids(2, 14, seed=5)
    full = model(ids).detach().numpy()
    cache = zili.models.KVCache(model.config.num_hidden_layers)
    parts = [model(ids[:, :6], cache=cache).detach().numpy()]
    for t in range(6, 14):
        parts.append(model(ids[:, t:t + 1], cache=cache).detach().numpy())
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, atol=1e-5, rtol=0)
    cached = model.generate(ids[:, :4], max_new_tokens=12, temperature=0).numpy()
    recomputed = model.generate(ids[:, :4], max_new_tokens=12, temperature=0,
                                use_cache=False).numpy()
    np.testing.assert_array_equal(cached, recomputed)


def test_batched_left_padded_equals_one_by_one(saved, device):
    hf, folder = saved["qwen2-sliding-tied"]
    model = from_pretrained(folder, device=device)
    prompts = [list(_ids(1, n, seed=n)[0]) for n in (3, 7, 5)]
    ids, mask = left_pad(prompts, pad_token_id=0)
    batched = model.generate(ids, attention_mask=mask, max_new_tokens=10,
                             temperature=0).numpy()
    for row, prompt in enumerate(prompts):
        alone = model.generate([prompt], max_new_tokens=10, temperature=0).numpy()[0]
        np.testing.assert_array_equal(batched[row, ids.shape[1] - len(prompt):], alone)
    # the padded forward itself matches transformers on every real position
    got = model(ids, attention_mask=mask).detach().numpy()
    want = _hf_logits(hf, ids, mask)
    real = mask.astype(bool)
    np.testing.assert_allclose(got[real], want[real], atol=1e-4, rtol=0)


def test_sampling_filters_match_transformers_warpers():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 50)).astype(np.float32) * 3
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )
    for temperature, top_k, top_p in [(0.7, 5, None), (1.3, None, 0.8), (1.0, 10, 0.5)]:
        want = torch.tensor(logits)
        want = TemperatureLogitsWarper(temperature)(None, want)
        if top_k:
            want = TopKLogitsWarper(top_k)(None, want)
        if top_p:
            want = TopPLogitsWarper(top_p)(None, want)
        got = filter_logits(logits, temperature, top_k, top_p)
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want.numpy()))
        np.testing.assert_allclose(got[np.isfinite(got)], want.numpy()[np.isfinite(got)],
                                   rtol=1e-6)


def test_sampled_generation_is_seeded_and_stops_at_eos(saved):
    _, folder = saved["llama-linear"]
    model = from_pretrained(folder, device="numpy")
    ids = _ids(2, 4, seed=1)
    zili.manual_seed(7)
    a = model.generate(ids, max_new_tokens=8, temperature=0.9, top_k=20, top_p=0.9).numpy()
    zili.manual_seed(7)
    b = model.generate(ids, max_new_tokens=8, temperature=0.9, top_k=20, top_p=0.9).numpy()
    np.testing.assert_array_equal(a, b)
    eos = int(a[0, 5])  # the second generated token of row 0 becomes the eos
    pad = (eos + 1) % SMALL["vocab_size"]
    zili.manual_seed(7)
    c = model.generate(ids, max_new_tokens=8, temperature=0.9, top_k=20, top_p=0.9,
                       eos_token_id=eos, pad_token_id=pad).numpy()
    assert eos in c[0, 4:6]
    first = 4 + list(c[0, 4:]).index(eos)
    assert (c[0, first + 1:] == pad).all()


def test_saved_folder_keeps_layout_and_loads_in_transformers(saved, tmp_path):
    hf, folder = saved["llama-llama3-bias-sharded"]
    model = from_pretrained(folder, device="numpy")
    save_pretrained(model, tmp_path, source=folder)
    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        before = json.load(f)["weight_map"]
    with open(tmp_path / "model.safetensors.index.json") as f:
        after = json.load(f)["weight_map"]
    assert before == after
    back = transformers.LlamaForCausalLM.from_pretrained(tmp_path).eval()
    ids = _ids(1, 10)
    np.testing.assert_allclose(_hf_logits(back, ids), _hf_logits(hf, ids), atol=1e-6, rtol=0)


def test_mismatched_checkpoint_names_the_tensor(saved, tmp_path):
    from safetensors.numpy import load_file, save_file
    _, folder = saved["llama-linear"]
    tensors = load_file(os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "config.json")) as f:
        config = f.read()
    (tmp_path / "config.json").write_text(config)
    broken = dict(tensors)
    del broken["model.layers.1.mlp.up_proj.weight"]
    broken["model.norm.weight"] = np.ones(7, np.float32)
    save_file(broken, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError) as info:
        from_pretrained(tmp_path, device="numpy")
    message = str(info.value)
    assert "missing tensor 'model.layers.1.mlp.up_proj.weight'" in message
    assert "'model.norm.weight' has shape (7,)" in message
    os.remove(tmp_path / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        from_pretrained(tmp_path, device="numpy")


def test_static_cache_jitted_decode_matches_transformers(saved, device):
    # Prompt through the preallocated cache, then one jitted fixed-shape step per token with
    # the second row left-padded; each step's logits against transformers' full forward.
    hf, folder = saved["qwen2-sliding-tied"]  # biases, a sliding-window layer, GQA
    model = from_pretrained(folder, device=device)
    ids = _ids(2, 12, seed=7)
    mask = np.ones_like(ids)
    mask[1, :3] = 0
    with torch.no_grad():
        positions = torch.tensor(np.maximum(np.cumsum(mask, axis=1) - 1, 0))
        want = hf(torch.tensor(ids), attention_mask=torch.tensor(mask),
                  position_ids=positions).logits.numpy()
    cache = model.new_cache(2, 16)
    model(ids[:, :5], attention_mask=mask[:, :5], cache=cache)
    got = [model.decode(ids[:, t:t + 1], mask[:, :t + 1], cache).numpy()
           for t in range(5, 12)]
    np.testing.assert_allclose(np.stack(got, axis=1), want[:, 5:], atol=1e-4, rtol=0)
    # one trace serves every layer and every position
    assert {k: j.traces for k, j in model._decode_jits.items()} == \
        {"embed": 1, "layer": 1, "head": 1}
    with pytest.raises(ValueError, match="cache is full"):
        for t in range(12, 17):
            model.decode(ids[:, :1], np.ones((2, t + 1), np.int64), cache)


@pytest.mark.parametrize("name", ["qwen2-sliding-tied", "llama-dynamic-tied"])
def test_repeated_inference_forward_replays_one_traced_layer(saved, name, device):
    # Under no_grad a call shape seen before runs its layers as replays of one traced layer
    # (compiled devices): the logits and the keys/values written into a static cache must
    # equal the eager first call's and transformers'.
    hf, folder = saved[name]
    model = from_pretrained(folder, device=device)
    ids = _ids(2, 9, seed=11)
    mask = np.ones_like(ids)
    mask[0, :2] = 0
    want = _hf_logits(hf, ids, mask)
    real = mask.astype(bool)
    caches = []
    with zili.no_grad():
        for _ in range(3):  # eager, trace, replay
            got = model(ids, attention_mask=mask).numpy()
            np.testing.assert_allclose(got[real], want[real], atol=1e-4, rtol=0)
            cache = model.new_cache(2, 12)
            model(ids[:, :6], attention_mask=mask[:, :6], cache=cache)
            model(ids[:, 6:], attention_mask=mask, cache=cache)  # a second chunk at 6
            caches.append([k.numpy() for k in cache.keys + cache.values])
    for later in caches[1:]:
        for a, b in zip(caches[0], later):
            np.testing.assert_allclose(b, a, atol=1e-6, rtol=0)
    compiles = zili.get_device(device).compiles
    # one trace per distinct call (full, first chunk, second chunk) serves all layers
    assert model._layer_jit.traces == (3 if compiles else 0)
    with zili.no_grad():
        assert model(ids[:1, :4]).shape == (1, 4, SMALL["vocab_size"])  # a new shape: eager
    assert model._layer_jit.traces == (3 if compiles else 0)
