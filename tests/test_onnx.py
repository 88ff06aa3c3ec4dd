"""ONNX export of the GPT and the LLaMA/Qwen2 family: onnx.checker passes and onnxruntime
(the oracle) gives zili's logits within 1e-4, also at a length other than the example's."""

from __future__ import annotations

import numpy as np
import pytest

import zili
from zili.models import GPT, GPTConfig, from_pretrained

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _run(path, ids: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input_ids": ids.astype(np.int64)})[0]


def _check(model, path, vocab: int) -> None:
    example = np.random.default_rng(0).integers(0, vocab, (2, 9))
    proto = zili.onnx.export(model, (example,), path)
    onnx.checker.check_model(proto)
    assert proto.opset_import[0].version >= 17
    # the file format of opset 17, not the installed onnx's newest: an onnxruntime that
    # reads IR versions up to 13 refused onnx 1.23's 14 although it runs every operator
    assert onnx.load(str(path)).ir_version == 8
    for shape in [(2, 9), (1, 5)]:
        ids = np.random.default_rng(sum(shape)).integers(0, vocab, shape)
        want = model(zili.tensor(ids, device=next(model.parameters()).device))
        want = (want[0] if isinstance(want, tuple) else want).detach().numpy()
        np.testing.assert_allclose(_run(path, ids), want, atol=1e-4, rtol=0)


def test_gpt_export_matches_onnxruntime(tmp_path, device):
    zili.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16))
    model.to(device).eval()
    _check(model, tmp_path / "gpt.onnx", 50)


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_llama_family_export_matches_onnxruntime(tmp_path, kind):
    torch.manual_seed(0)
    common = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2)
    if kind == "llama":  # GQA, llama3 rope scaling, attention bias, untied head
        hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(
            **common, attention_bias=True, max_position_embeddings=64,
            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 4}))
    else:  # q/k/v biases, tied embeddings, sliding window on the second layer
        hf = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(
            **common, tie_word_embeddings=True, use_sliding_window=True, sliding_window=3,
            max_window_layers=1))
    hf.save_pretrained(tmp_path / "hf")
    model = from_pretrained(tmp_path / "hf", device="numpy")
    _check(model, tmp_path / "model.onnx", 64)


def test_export_rejects_other_modules(tmp_path):
    with pytest.raises(TypeError, match="not supported"):
        zili.onnx.export(zili.nn.Linear(2, 2), np.zeros((1, 2), np.int64), tmp_path / "x.onnx")
