"""``zili.onnx.export``: the forward pass of a GPT or a LLaMA/Qwen2 model as an ONNX graph.

The exporter walks the model's modules and writes the same computation as ONNX operators
(opset 17): token ids ``input_ids`` (batch, time; both dynamic) in, ``logits`` (batch, time,
vocab) out, weights as float32 initializers. Attention is written out (MatMul, a causal or
sliding-window mask from Range comparisons, Softmax); grouped-query attention reshapes the
queries into (batch, kv_heads, group, time, head_dim) so that MatMul broadcasts the shared
keys and values instead of copying them. The graph covers the forward of one unpadded
sequence batch from position 0 (no KV cache, no attention mask); a ``dynamic`` rotary
variant is frozen at the example's length. Building the protobuf needs the ``onnx``
package; PyTorch is not used.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from zili.files import atomic_write
from zili.models.gpt import GPT
from zili.models.llama import LlamaForCausalLM
from zili.models.rope import inverse_frequencies
from zili.tensor import Tensor

OPSET = 17
# The file format version that came with opset 17 (onnx 1.12). onnx's helper would stamp its
# own newest, which older runtimes refuse to load ("Unsupported model IR version") although
# every operator in the graph is theirs.
IR_VERSION = 8


class _Graph:
    """Nodes and initializers under construction, with fresh value names."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value: Any, hint: str = "const", dtype: Any = np.float32) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def weight(self, t: Tensor, hint: str, transpose: bool = False) -> str:
        array = t.detach().float().numpy()
        return self.const(array.T.copy() if transpose else array, hint)

    def op(self, kind: str, *inputs: str, hint: str | None = None, **attrs: Any) -> str:
        out = self.name(hint or kind.lower())
        self.nodes.append(helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def linear(self, x: str, layer: Any, hint: str) -> str:
        y = self.op("MatMul", x, self.weight(layer.weight, f"{hint}.weight_t", True))
        if getattr(layer, "bias", None) is not None:
            y = self.op("Add", y, self.weight(layer.bias, f"{hint}.bias"))
        return y

    def shape(self, *dims: int) -> str:
        return self.const(dims, "shape", np.int64)


def _mask(g: _Graph, ids: str, window: int | None) -> str:
    """Bool (time, time): key j visible from query i (j <= i, and i - j < window)."""
    steps = g.op("Gather", g.op("Shape", ids), g.const(1, "one", np.int64), axis=0)
    pos = g.op("Range", g.const(0, "zero", np.int64), steps, g.const(1, "one", np.int64))
    rows = g.op("Unsqueeze", pos, g.const([1], "axis", np.int64))
    cols = g.op("Unsqueeze", pos, g.const([0], "axis", np.int64))
    mask = g.op("LessOrEqual", cols, rows)
    if window:
        low = g.op("Sub", rows, g.const(window, "window", np.int64))
        mask = g.op("And", mask, g.op("Greater", cols, low))
    return mask


def _attend(g: _Graph, q: str, k: str, v: str, mask: str, scale: float, rank: int) -> str:
    """softmax(q k^T * scale, masked) v for keys of ``rank`` axes."""
    key_t = g.op("Transpose", k, perm=[*range(rank - 2), rank - 1, rank - 2])
    scores = g.op("Mul", g.op("MatMul", q, key_t), g.const(scale, "scale"))
    scores = g.op("Where", mask, scores, g.const(-np.inf, "neg_inf"))
    return g.op("MatMul", g.op("Softmax", scores, axis=-1), v)


def _rms(g: _Graph, x: str, norm: Any) -> str:
    mean = g.op("ReduceMean", g.op("Mul", x, x), axes=[-1], keepdims=1)
    inv = g.op("Reciprocal", g.op("Sqrt", g.op("Add", mean, g.const(norm.eps, "eps"))))
    return g.op("Mul", g.op("Mul", x, inv), g.weight(norm.weight, "norm.weight"))


def _rotate(g: _Graph, x: str, cos: str, sin: str, half: int) -> str:
    x1, x2 = (g.name("half") for _ in range(2))
    g.nodes.append(helper.make_node("Split", [x, g.const([half, half], "split", np.int64)],
                                    [x1, x2], axis=-1))
    rotated = g.op("Concat", g.op("Neg", x2), x1, axis=-1)
    return g.op("Add", g.op("Mul", x, cos), g.op("Mul", rotated, sin))


def _llama(g: _Graph, model: LlamaForCausalLM, ids: str, steps: int) -> str:
    c = model.config
    heads, kv, d = c.num_attention_heads, c.num_key_value_heads, c.head_dim
    inv, scaling = inverse_frequencies(c, steps)
    x = g.op("Gather", g.weight(model.model.embed_tokens.weight, "embed"), ids, axis=0)
    n = g.op("Gather", g.op("Shape", ids), g.const(1, "one", np.int64), axis=0)
    pos = g.op("Cast", g.op("Range", g.const(0, "zero", np.int64), n,
                            g.const(1, "one", np.int64)), to=TensorProto.FLOAT)
    angles = g.op("Mul", g.op("Unsqueeze", pos, g.const([1], "axis", np.int64)),
                  g.const(inv, "inv_freq"))
    angles = g.op("Concat", angles, angles, axis=-1)  # (time, head_dim)
    cos = g.op("Mul", g.op("Cos", angles), g.const(scaling, "scaling"))
    sin = g.op("Mul", g.op("Sin", angles), g.const(scaling, "scaling"))
    masks = {kind: _mask(g, ids, c.sliding_window if kind == "sliding_attention" else None)
             for kind in set(c.layer_types)}
    for i, layer in enumerate(model.model.layers):
        a, h = layer.self_attn, _rms(g, x, layer.input_layernorm)
        # q: (B, T, H*D) -> (B, KV, G, T, D); k, v: (B, T, KV*D) -> (B, KV, 1, T, D)
        q = g.op("Reshape", g.linear(h, a.q_proj, f"l{i}.q"), g.shape(0, 0, heads, d))
        q = _rotate(g, g.op("Transpose", q, perm=[0, 2, 1, 3]), cos, sin, d // 2)
        q = g.op("Reshape", q, g.shape(0, kv, heads // kv, -1, d))
        k = g.op("Reshape", g.linear(h, a.k_proj, f"l{i}.k"), g.shape(0, 0, kv, d))
        k = _rotate(g, g.op("Transpose", k, perm=[0, 2, 1, 3]), cos, sin, d // 2)
        k = g.op("Unsqueeze", k, g.const([2], "axis", np.int64))
        v = g.op("Reshape", g.linear(h, a.v_proj, f"l{i}.v"), g.shape(0, 0, kv, d))
        v = g.op("Unsqueeze", g.op("Transpose", v, perm=[0, 2, 1, 3]),
                 g.const([2], "axis", np.int64))
        y = _attend(g, q, k, v, masks[layer.attention_type], 1.0 / math.sqrt(d), 5)
        y = g.op("Reshape", y, g.shape(0, heads, -1, d))
        y = g.op("Reshape", g.op("Transpose", y, perm=[0, 2, 1, 3]), g.shape(0, 0, heads * d))
        x = g.op("Add", x, g.linear(y, a.o_proj, f"l{i}.o"))
        h = _rms(g, x, layer.post_attention_layernorm)
        m = layer.mlp
        gate = g.linear(h, m.gate_proj, f"l{i}.gate")
        silu = g.op("Mul", gate, g.op("Sigmoid", gate))
        x = g.op("Add", x, g.linear(g.op("Mul", silu, g.linear(h, m.up_proj, f"l{i}.up")),
                                    m.down_proj, f"l{i}.down"))
    x = _rms(g, x, model.model.norm)
    return g.op("MatMul", x, g.weight(model.output_weight, "lm_head_t", True), hint="logits")


def _layer_norm(g: _Graph, x: str, ln: Any) -> str:
    bias = ln.bias if ln.bias is not None else ln.weight * 0
    return g.op("LayerNormalization", x, g.weight(ln.weight, "ln.weight"),
                g.weight(bias, "ln.bias"), axis=-1, epsilon=ln.eps)


def _gpt(g: _Graph, model: GPT, ids: str) -> str:
    c = model.config
    heads, width = c.n_head, c.n_embd
    d = width // heads
    n = g.op("Gather", g.op("Shape", ids), g.const(1, "one", np.int64), axis=0)
    pos = g.op("Range", g.const(0, "zero", np.int64), n, g.const(1, "one", np.int64))
    x = g.op("Add", g.op("Gather", g.weight(model.wte.weight, "wte"), ids, axis=0),
             g.op("Gather", g.weight(model.wpe.weight, "wpe"), pos, axis=0))
    mask = _mask(g, ids, None)
    for i, block in enumerate(model.h):
        qkv = g.linear(_layer_norm(g, x, block.ln_1), block.attn.c_attn, f"h{i}.c_attn")
        parts = [g.name("qkv") for _ in range(3)]
        g.nodes.append(helper.make_node("Split", [qkv, g.const([width] * 3, "split", np.int64)],
                                        parts, axis=-1))
        q, k, v = (g.op("Transpose", g.op("Reshape", p, g.shape(0, 0, heads, d)),
                        perm=[0, 2, 1, 3]) for p in parts)
        y = _attend(g, q, k, v, mask, 1.0 / math.sqrt(d), 4)
        y = g.op("Reshape", g.op("Transpose", y, perm=[0, 2, 1, 3]), g.shape(0, 0, width))
        x = g.op("Add", x, g.linear(y, block.attn.c_proj, f"h{i}.c_proj"))
        h = g.linear(_layer_norm(g, x, block.ln_2), block.mlp.c_fc, f"h{i}.c_fc")
        # GELU, tanh approximation: 0.5 h (1 + tanh(sqrt(2/pi) (h + 0.044715 h^3)))
        cube = g.op("Mul", g.op("Mul", h, h), h)
        inner = g.op("Mul", g.op("Add", h, g.op("Mul", cube, g.const(0.044715, "c"))),
                     g.const(math.sqrt(2 / math.pi), "c"))
        gelu = g.op("Mul", g.op("Mul", h, g.const(0.5, "half")),
                    g.op("Add", g.op("Tanh", inner), g.const(1.0, "one_f")))
        x = g.op("Add", x, g.linear(gelu, block.mlp.c_proj, f"h{i}.mlp_proj"))
    x = _layer_norm(g, x, model.ln_f)
    return g.op("MatMul", x, g.weight(model.wte.weight, "wte_t", True), hint="logits")


def export(model: Any, example_inputs: Any, path: str | os.PathLike) -> onnx.ModelProto:
    """Write ``model``'s forward (token ids -> logits) as an ONNX file at ``path`` and
    return the checked ModelProto. ``example_inputs`` are token ids (batch, time) or a tuple
    holding them; their length fixes a ``dynamic`` rotary variant.

    Raises:
        TypeError: a model that is neither a GPT nor in the LLaMA/Qwen2 family.
        onnx.checker.ValidationError: the graph does not pass ONNX's checker.
    """
    ids_example = example_inputs[0] if isinstance(example_inputs, (tuple, list)) else \
        example_inputs
    steps = int(np.asarray(ids_example.numpy() if isinstance(ids_example, Tensor)
                           else ids_example).shape[-1])
    g = _Graph()
    ids = "input_ids"
    if isinstance(model, LlamaForCausalLM):
        logits = _llama(g, model, ids, steps)
        vocab = model.config.vocab_size
    elif isinstance(model, GPT):
        logits = _gpt(g, model, ids)
        vocab = model.config.vocab_size
    else:
        raise TypeError(f"zili.onnx.export: {type(model).__name__} is not supported; export "
                        "a zili.models.GPT or a LLaMA/Qwen2 model (LlamaForCausalLM)")
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"]))
    graph = helper.make_graph(
        g.nodes, "zili", [helper.make_tensor_value_info(ids, TensorProto.INT64,
                                                        ["batch", "time"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "time", vocab])],
        g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="zili", ir_version=IR_VERSION)
    onnx.checker.check_model(proto)
    atomic_write(path, [proto.SerializeToString()])
    return proto
