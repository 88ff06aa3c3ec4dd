"""Generation speed of a ~100M-parameter random Qwen2-shaped model: zili against
transformers (PyTorch) on the CPU, in one process run; and the peak memory of loading a
bfloat16 checkpoint against its file size.

The model is built with transformers from a Qwen2Config (random weights, no download),
saved as float32 and as bfloat16 folders, and loaded by both frameworks from the same
float32 folder. Prefill: one forward over a prompt of ``--prompt`` tokens, batch 1 and 8,
computing the logits of the last position only (what generation needs; ``logits_to_keep=1``
in both frameworks); zili's warm-up call of a shape runs eagerly, its first timed call
traces one decoder layer and later calls replay it, as any repeated inference call does.
Decode: ``--new`` greedy tokens with the KV cache: the time of generating ``--new`` tokens
minus that of generating one (prefill and first token), for
``--new`` - 1 decode steps (zili's decode steps replay a jitted step, traced in the warm-up
call). Each measurement alternates zili and transformers (best of ``--repeat``), so
on a busy machine both see the same load; compare the ratios. Memory is measured in a
fresh subprocess (peak resident set, VmHWM, minus the resident set before loading) after
``from_pretrained`` of the bfloat16 folder and after one forward pass (which touches every
weight page). The machine is shared: the load average is printed with the numbers. Usage:

    .venv/bin/python bench/generate.py [--layers 12] [--prompt 64] [--new 16] [--device cpu]
        [--repeat 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import transformers

import zili
from zili.models import from_pretrained

MEMORY_PROBE = r"""
import sys
import numpy as np
import zili
from zili.models import from_pretrained
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
base = status("VmRSS:")
model = from_pretrained(sys.argv[1], device=sys.argv[2])
loaded = status("VmHWM:")
model(np.zeros((1, 4), np.int64))
print(base, loaded, status("VmHWM:"))
"""


def build(folder: Path, layers: int) -> transformers.Qwen2ForCausalLM:
    """A random Qwen2-shaped model saved as float32 (folder/f32) and bfloat16 (folder/bf16)."""
    config = transformers.Qwen2Config(vocab_size=32000, hidden_size=768, intermediate_size=2048,
                                      num_hidden_layers=layers, num_attention_heads=12,
                                      num_key_value_heads=2, tie_word_embeddings=True,
                                      max_position_embeddings=4096)
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(config).eval()
    model.save_pretrained(folder / "f32")
    model.to(torch.bfloat16).save_pretrained(folder / "bf16")
    return model.float()


def timed(fns: list, repeat: int) -> list[float]:
    """Best of ``repeat`` runs of each function after one warm-up each, in seconds; the
    functions run alternately so that each round sees the same machine load."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--prompt", type=int, default=64, help="prompt tokens (64)")
    parser.add_argument("--new", type=int, default=16, help="decoded tokens (16)")
    parser.add_argument("--device", default="cpu", help="zili device (cpu)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (3)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice); set OMP_NUM_THREADS "
                        "too for zili's kernels")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        hf = build(folder, args.layers)
        params = sum(p.numel() for p in hf.parameters())
        ours = from_pretrained(folder / "f32", device=args.device)
        products = getattr(ours.output_weight.device, "matmul_library", "its own")
        print(f"Qwen2-shaped random model: {params / 1e6:.1f}M parameters, {args.layers} "
              f"layers, float32; prompt {args.prompt} tokens, {args.new} new tokens; "
              f"zili device {args.device} (products: {products}), torch threads "
              f"{torch.get_num_threads()}, {os.cpu_count()} cores")
        print(f"load average before: {os.getloadavg()}")
        print(f"{'batch':>5} {'phase':>8} {'zili tok/s':>11} {'torch tok/s':>12} {'ratio':>6}")
        for batch in (1, 8):
            ids = np.random.default_rng(batch).integers(0, 32000, (batch, args.prompt))
            tids = torch.tensor(ids)

            def z_prefill(ids=ids):  # no_grad on both sides: inference, no graph recorded
                with zili.no_grad():
                    return ours(ids, logits_to_keep=1)

            def t_prefill(tids=tids):
                with torch.no_grad():
                    return hf(tids, logits_to_keep=1).logits

            def z_generate(ids=ids, new=args.new):
                return ours.generate(ids, max_new_tokens=new, temperature=0)

            def t_generate(tids=tids, new=args.new):
                with torch.no_grad():
                    return hf.generate(tids, max_new_tokens=new, min_new_tokens=new,
                                       do_sample=False, pad_token_id=0)

            zp, tp = timed([z_prefill, t_prefill], args.repeat)
            zg, tg, z1, t1 = timed([z_generate, t_generate, lambda: z_generate(new=1),
                                    lambda: t_generate(new=1)], args.repeat)
            prefill = batch * args.prompt
            decode = batch * (args.new - 1)
            rows = [("prefill", prefill / zp, prefill / tp),
                    ("decode", decode / max(zg - z1, 1e-9), decode / max(tg - t1, 1e-9))]
            for phase, z, t in rows:
                print(f"{batch:>5} {phase:>8} {z:>11.1f} {t:>12.1f} {z / t:>6.2f}")
        print(f"load average after: {os.getloadavg()}")
        size = sum(f.stat().st_size for f in (folder / "bf16").glob("*.safetensors"))
        out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(folder / "bf16"),
                              args.device], capture_output=True, text=True, check=True)
        base, loaded, touched = (int(v) for v in out.stdout.split()[-3:])
        print(f"bf16 checkpoint {size / 2**20:.1f} MiB; peak RSS growth: after "
              f"from_pretrained {(loaded - base) / 2**20:.1f} MiB "
              f"({(loaded - base) / size:.2f}x the file), after one forward "
              f"{(touched - base) / 2**20:.1f} MiB ({(touched - base) / size:.2f}x)")


if __name__ == "__main__":
    zili.manual_seed(0)
    main()
