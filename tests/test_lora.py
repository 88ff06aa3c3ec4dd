"""LoRA adapters: forward and gradients against PyTorch, merging against NumPy float64, the
adapter file, and fine-tuning a small random Qwen2 folder on a ``zili data build``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zili
from zili.cli.main import main
from zili.models import from_pretrained
from zili.nn.lora import LoRALinear, apply_lora, load_lora, merge_lora, save_lora

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")


def _text() -> str:
    """150 distinct lines from a small grammar: learnable, and kept by the build filters."""
    rng = np.random.default_rng(0)
    parts = (["我们", "老师", "学生", "朋友们", "孩子们", "工程师"],
             ["北京", "上海", "深圳", "杭州"],
             ["学习", "讨论", "研究", "训练", "评估"],
             ["语言模型", "深度学习", "中文数据", "神经网络"])
    return "\n".join(f"{rng.choice(parts[0])}在{rng.choice(parts[1])}{rng.choice(parts[2])}"
                     f"{rng.choice(parts[3])}，第{i}次觉得很有意思。" for i in range(150))


TEXT = _text()


@settings(max_examples=6, deadline=None)
@given(n_in=st.integers(2, 9), n_out=st.integers(1, 8), r=st.integers(1, 4),
       bias=st.booleans(), seed=st.integers(0, 2**16))
def test_lora_linear_forward_and_backward_match_torch(n_in, n_out, r, bias, seed):
    zili.manual_seed(seed)
    layer = LoRALinear(zili.nn.Linear(n_in, n_out, bias=bias), r=r, alpha=3.0)
    # B starts at zero; give it values so the adapter path is exercised.
    layer.lora_B.weight.data = zili.randn(n_out, r)
    x_np = np.random.default_rng(seed).normal(size=(3, n_in)).astype(np.float32)
    x = zili.tensor(x_np, requires_grad=True)
    y = layer(x)
    (y * y).sum().backward()
    w = torch.tensor(layer.base_layer.weight.detach().numpy())
    a = torch.tensor(layer.lora_A.weight.detach().numpy(), requires_grad=True)
    b = torch.tensor(layer.lora_B.weight.detach().numpy(), requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    yt = xt @ w.T + (xt @ a.T @ b.T) * (3.0 / r)
    if bias:
        yt = yt + torch.tensor(layer.base_layer.bias.detach().numpy())
    (yt * yt).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(layer.lora_A.weight.grad.numpy(), a.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(layer.lora_B.weight.grad.numpy(), b.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), atol=1e-4)
    assert layer.base_layer.weight.grad is None  # frozen


def _tokenizer(path: Path) -> tokenizers.Tokenizer:
    vocab = {t: i for i, t in enumerate(["<unk>", *sorted(set(TEXT))])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Split(tokenizers.Regex(r"[\s\S]"),
                                                       behavior="isolated")
    tok.decoder = tokenizers.decoders.Fuse()
    tok.save(str(path / "tokenizer.json"))
    return tok


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("qwen-lora")
    tok = _tokenizer(path)
    torch.manual_seed(2)
    config = transformers.Qwen2Config(vocab_size=tok.get_vocab_size(), hidden_size=32,
                                      intermediate_size=48, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2,
                                      # larger weights than the default 0.02: the tied
                                      # head must be able to express a peaked distribution
                                      initializer_range=0.3)
    transformers.Qwen2ForCausalLM(config).save_pretrained(path)
    return path


def test_merge_equals_base_plus_scaled_b_a_and_keeps_outputs(folder, device):
    model = from_pretrained(folder, device=device)
    before = {n: p.detach().numpy().astype(np.float64) for n, p in model.named_parameters()}
    wrapped = apply_lora(model, r=4, alpha=8.0, target_modules=("q_proj", "v_proj"))
    assert len(wrapped) == 4
    assert all(not p.requires_grad for n, p in model.named_parameters() if "lora_" not in n)
    for layer in model.modules():
        if isinstance(layer, LoRALinear):
            layer.lora_B.weight.data = zili.randn(*layer.lora_B.weight.shape, device=device)
    adapters = {path: (m.lora_A.weight.detach().numpy().astype(np.float64),
                       m.lora_B.weight.detach().numpy().astype(np.float64))
                for path, m in model.named_modules() if isinstance(m, LoRALinear)}
    ids = np.random.default_rng(0).integers(0, model.config.vocab_size, (2, 7))
    adapted = model(ids).detach().numpy()
    merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    for path, (a, b) in adapters.items():
        name = f"{path}.weight"
        want = before[name] + 2.0 * b @ a  # scale = alpha / r = 8 / 4
        np.testing.assert_allclose(dict(model.named_parameters())[name].detach().numpy(),
                                   want, atol=1e-5)
    np.testing.assert_allclose(model(ids).detach().numpy(), adapted, atol=1e-4)


def test_adapter_file_holds_only_adapters_and_reloads(folder, tmp_path):
    model = from_pretrained(folder, device="numpy")
    apply_lora(model, r=2, alpha=4.0)
    for layer in model.modules():
        if isinstance(layer, LoRALinear):
            layer.lora_B.weight.data = zili.randn(*layer.lora_B.weight.shape, device="numpy")
    save_lora(model, tmp_path)
    from safetensors.numpy import load_file
    stored = load_file(str(tmp_path / "adapter_model.safetensors"))
    assert len(stored) == 2 * 4 * 2  # A and B, four projections, two layers
    assert all(re.fullmatch(r"base_model\.model\.model\.layers\.\d\.self_attn\.[qkvo]_proj"
                            r"\.lora_[AB]\.weight", k) for k in stored)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["r"] == 2 and config["lora_alpha"] == 4.0
    fresh = from_pretrained(folder, device="numpy")
    load_lora(fresh, tmp_path)
    ids = np.random.default_rng(1).integers(0, model.config.vocab_size, (1, 6))
    np.testing.assert_allclose(fresh(ids).detach().numpy(), model(ids).detach().numpy(),
                               atol=1e-6)


def test_train_lora_on_a_build_lowers_the_loss(folder, tmp_path, capsys):
    source = tmp_path / "text.txt"
    source.write_text(TEXT, encoding="utf-8")
    build = tmp_path / "build"
    assert main(["data", "build", str(source), "--out", str(build), "--tokenizer", "char",
                 "--text-unit", "line", "--vocab-size", "200", "--workers", "1",
                 "--no-progress"]) == 0
    capsys.readouterr()
    out = tmp_path / "adapters"
    assert main(["train", "--model", str(folder), "--lora", "8", "--data", str(build),
                 "--lora-targets", "q_proj,v_proj,o_proj,up_proj,down_proj",
                 "--steps", "20", "--lr", "5e-2", "--batch-size", "4", "--context", "16",
                 "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    before, after = map(float, re.search(r"held-out loss ([\d.]+) -> ([\d.]+)",
                                         printed).groups())
    assert after < before - 0.2, printed
    losses = [float(v) for v in re.findall(r"loss ([\d.]+)\n", printed)]
    assert losses[-1] < losses[0]
    assert (out / "adapter_model.safetensors").exists()


def test_adapters_train_on_a_frozen_bfloat16_base(tmp_path):
    torch.manual_seed(3)
    config = transformers.Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=48,
                                      num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, initializer_range=0.3)
    transformers.Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(tmp_path)
    model = from_pretrained(tmp_path, device="numpy")
    apply_lora(model, r=4, alpha=8.0, target_modules=("q_proj", "v_proj", "up_proj"))
    params = [p for p in model.parameters() if p.requires_grad]
    assert params and all(p.dtype is zili.float32 for p in params)
    optimizer = zili.optim.AdamW(params, lr=5e-2, weight_decay=0.0)
    ids = zili.tensor(np.random.default_rng(0).integers(0, 64, (2, 8)), device="numpy")
    losses = []
    for _ in range(6):
        logits = model(ids[:, :-1])
        loss = zili.nn.functional.cross_entropy(logits.reshape(14, 64).float(),
                                                ids[:, 1:].reshape(14))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1, losses
    base = model.model.layers[0].self_attn.q_proj.base_layer.weight
    assert base.dtype is zili.bfloat16 and base.grad is None


def test_eval_ppl_on_a_build_matches_transformers(folder, tmp_path, capsys):
    from zili.data.shards import read_shard
    from zili.text.tokenizer import load_tokenizer
    source = tmp_path / "text.txt"
    source.write_text(TEXT, encoding="utf-8")
    build = tmp_path / "build"
    assert main(["data", "build", str(source), "--out", str(build), "--tokenizer", "char",
                 "--text-unit", "line", "--vocab-size", "200", "--workers", "1",
                 "--no-progress"]) == 0
    capsys.readouterr()
    # The oracle: the build's validation text, scored by transformers in windows of 16.
    text = load_tokenizer(build).decode(
        [int(i) for p in sorted(build.glob("val_*.bin")) for i in read_shard(p)])
    ids = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json")).encode(text).ids
    hf = transformers.Qwen2ForCausalLM.from_pretrained(folder).eval()
    nats, count = 0.0, 0
    for start in range(0, len(ids) - 1, 16):
        window = ids[start:start + 16]
        if len(window) < 2:
            break
        with torch.no_grad():
            logp = torch.log_softmax(hf(torch.tensor([window])).logits[0].double(), -1)
        nats -= sum(float(logp[t, window[t + 1]]) for t in range(len(window) - 1))
        count += len(window) - 1
    assert main(["eval", "--model", str(folder), "--task", "ppl", "--data", str(build),
                 "--context", "16", "--device", "numpy"]) == 0
    loss = float(re.search(r"loss\s+([\d.]+)", capsys.readouterr().out).group(1))
    assert loss == pytest.approx(nats / count, abs=1e-4)
