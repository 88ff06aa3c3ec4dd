"""The corpus build: sources -> clean documents -> tokenizer -> train/val token shards.

Stages: read (main process, in a fixed order) -> normalise, scrub personal data, filter,
hash and MinHash (worker processes, one per core, batches in order) -> deduplicate (main
process) -> train the tokenizer on the training split -> encode and write shards ->
manifest.json, report.md and plots.

Restartable: the clean documents and their statistics are saved under ``OUT/work/``
with a key made of the config and every source's sha256; a rerun with the same key
starts from them. A build that finishes removes ``work/``. A build in which no document
survives still writes manifest.json and report.md (with the per-filter counts) and
reports those counts in its error. Every output file is written atomically and nothing depends on
timing or on the number of workers, so an interrupted build run again produces the
same shards, byte for byte, as an uninterrupted one.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from zili.data.shards import dtype_for_vocab, write_shard
from zili.text.dedup import Deduplicator, signature, text_hash
from zili.text.filters import FILTER_NAMES, QualityFilter
from zili.text.normalize import normalize_config
from zili.text.pii import KINDS, Scrubber
from zili.text.readers import BadRecord, Document, expand_sources, read_file
from zili.text.report import length_histogram, write_outputs
from zili.text.tokenizer import train_tokenizer

STAGE_VERSION = 1  # bump when a stage's output changes, so old work files are not reused

# --- worker side -------------------------------------------------------------------

_W: dict[str, Any] = {}


def _init_worker(cfg: dict[str, Any]) -> None:
    _W["cfg"] = cfg
    _W["filter"] = QualityFilter(cfg)
    _W["scrub"] = Scrubber(cfg)


def clean_document(text: str, cfg: dict[str, Any], qfilter: QualityFilter,
                   scrubber: Scrubber) -> dict[str, Any]:
    """Normalise, scrub personal data, filter one document; hash and sign it if kept.

    Scrubbing comes before filtering, and the filters do not see the placeholders, so a
    phone number does not make a short message look like digit spam.

    Returns a dict with ``len`` (normalised length), ``drop`` (failed filter or None)
    and, for a kept document, ``text``, ``pii`` (counts), ``hash`` and ``sig``.
    """
    norm = normalize_config(text, cfg)
    out: dict[str, Any] = {"len": len(norm)}
    counts: dict[str, int] = {}
    if cfg["pii"]["enabled"]:
        norm, found = scrubber.scrub(norm)
        counts = dict(found)
    out["drop"] = qfilter.check(scrubber.strip_placeholders(norm) if counts else norm)
    if out["drop"] is None:
        out["pii"] = counts
        out["text"] = norm
        out["hash"] = text_hash(norm)
        d = cfg["dedup"]
        out["sig"] = (signature(norm, d["ngram"], d["num_perm"], d["seed"])
                      if d["near"] else None)
    return out


def _work(texts: list[str]) -> list[dict[str, Any]]:
    return [clean_document(t, _W["cfg"], _W["filter"], _W["scrub"]) for t in texts]


# --- main side ---------------------------------------------------------------------

def file_sha256(path: str) -> str:
    """Hex sha256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def licence_for(path: str, cfg: dict[str, Any]) -> str:
    """Licence declared for ``path``: first matching glob in cfg["licences"], else default."""
    for pattern, name in cfg["licences"].items():
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(Path(path).name, pattern):
            return str(name)
    return str(cfg["default_licence"])


def _batches(files: list[tuple[str, str]], cfg: dict[str, Any], stats: dict[str, Any],
             ) -> Iterator[list[Document]]:
    size = cfg["build"]["batch_docs"]
    batch: list[Document] = []
    for src in stats["sources"]:
        for rec in read_file(src["path"], src["format"], cfg):
            if isinstance(rec, BadRecord):
                src["bad_records"] += 1
                stats["bad_count"] += 1
                kind = rec.reason.split(":")[0].split(" at byte")[0]
                stats["bad_by_reason"][kind] = stats["bad_by_reason"].get(kind, 0) + 1
                if len(stats["bad"]) < cfg["build"]["max_bad_listed"]:
                    stats["bad"].append({"source": rec.source, "line": rec.line,
                                         "reason": rec.reason})
                continue
            src["documents"] += 1
            batch.append(rec)
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def clean_corpus(files: list[tuple[str, str]], cfg: dict[str, Any], work: Path,
                 progress: bool = False) -> dict[str, Any]:
    """Run read -> clean -> dedup over ``files``; write kept texts to work/clean.jsonl.

    Returns the statistics the manifest reports (sources, bad records, filter drops,
    personal data counts, duplicates, length histogram).
    """
    workers = cfg["build"]["workers"] or os.cpu_count() or 1
    stats: dict[str, Any] = {
        "sources": [{"path": p, "format": f, "size": os.path.getsize(p),
                     "sha256": file_sha256(p), "licence": licence_for(p, cfg),
                     "documents": 0, "bad_records": 0} for p, f in files],
        "bad": [], "bad_count": 0, "bad_by_reason": {},
        "drops": dict.fromkeys(FILTER_NAMES, 0), "pii": dict.fromkeys(KINDS, 0),
        "dedup": {"exact": 0, "near": 0}, "read": 0, "kept": 0,
    }
    lengths_all: list[int] = []
    lengths_kept: list[int] = []
    dedup = Deduplicator(cfg)
    bar = _bar(progress, "clean")
    tmp = work / "clean.jsonl.tmp"
    pool = None
    try:
        if workers > 1:
            # fork where there is one: spawn would re-run the caller's main module, which
            # a script without a __main__ guard cannot survive; the workers use no threads
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            pool = multiprocessing.get_context(method).Pool(
                workers, initializer=_init_worker, initargs=(cfg,))
            results = pool.imap(_work, ([d.text for d in b] for b in
                                        _batches(files, cfg, stats)))
        else:
            _init_worker(cfg)
            results = map(_work, ([d.text for d in b] for b in _batches(files, cfg, stats)))
        with open(tmp, "w", encoding="utf-8") as fh:
            for batch in results:
                for r in batch:
                    stats["read"] += 1
                    lengths_all.append(r["len"])
                    if r["drop"] is not None:
                        stats["drops"][r["drop"]] += 1
                        continue
                    for kind, n in r.get("pii", {}).items():
                        stats["pii"][kind] += n
                    dup = dedup.check(r["hash"], r["sig"])
                    if dup is not None:
                        stats["dedup"][dup] += 1
                        continue
                    stats["kept"] += 1
                    lengths_kept.append(len(r["text"]))
                    fh.write(json.dumps({"text": r["text"], "hash": r["hash"]},
                                        ensure_ascii=False) + "\n")
                if bar is not None:
                    bar.update(len(batch))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, work / "clean.jsonl")
    finally:
        if pool is not None:
            pool.terminate()
        if bar is not None:
            bar.close()
    stats["length_histogram"] = length_histogram(lengths_all, lengths_kept)
    return stats


def _bar(progress: bool, desc: str) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(desc=desc, unit="doc", dynamic_ncols=True)


def iter_clean(work: Path) -> Iterator[dict[str, str]]:
    """The kept documents of a build, in order: dicts with ``text`` and ``hash``."""
    with open(work / "clean.jsonl", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def split_of(digest: str, val_fraction: float) -> str:
    """"val" or "train" for a document, from its hex sha256: stable for a given text."""
    return "val" if int(digest[:16], 16) / 2.0**64 < val_fraction else "train"


def write_shards(out: Path, work: Path, tok: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    """Encode the kept documents and write train/val shards; return per-split statistics.

    Each document's ids are followed by the end-of-text id. Shards from an earlier build
    that this one does not rewrite are removed, so the folder holds one build only.
    """
    val_fraction = cfg["shards"]["val_fraction"]
    limit = int(cfg["shards"]["shard_tokens"])
    dt = dtype_for_vocab(tok.vocab_size)
    splits: dict[str, Any] = {s: {"documents": 0, "tokens": 0, "characters": 0,
                                  "shards": []} for s in ("train", "val")}
    buffers: dict[str, list[np.ndarray]] = {"train": [], "val": []}
    fill = {"train": 0, "val": 0}

    def flush(split: str) -> None:
        if not buffers[split]:
            return
        ids = np.concatenate(buffers[split])
        name = f"{split}_{len(splits[split]['shards']):05d}.bin"
        write_shard(out / name, ids, dtype=dt)
        splits[split]["shards"].append({"file": name, "tokens": int(ids.size)})
        buffers[split].clear()
        fill[split] = 0

    def encode(docs: list[dict[str, str]]) -> None:
        for d, ids in zip(docs, tok.encode_batch([d["text"] for d in docs]), strict=True):
            split = split_of(d["hash"], val_fraction)
            s = splits[split]
            s["documents"] += 1
            s["tokens"] += len(ids)
            s["characters"] += len(d["text"])
            buffers[split].append(np.asarray(ids + [tok.eos_id], dtype=np.int64))
            fill[split] += len(ids) + 1
            if fill[split] >= limit:
                flush(split)

    pending: list[dict[str, str]] = []
    for doc in iter_clean(work):
        pending.append(doc)
        if len(pending) == 1024:
            encode(pending)
            pending = []
    encode(pending)
    for split in splits:
        flush(split)
        written = {s["file"] for s in splits[split]["shards"]}
        for old in out.glob(f"{split}_*.bin"):
            if old.name not in written:
                old.unlink()
    return splits


def build(sources: list[str], out: str | Path, cfg: dict[str, Any],
          progress: bool = False) -> dict[str, Any]:
    """Build a token folder from ``sources`` (files, folders, ``FORMAT:PATH``) into ``out``.

    Returns the manifest (also written to ``out/manifest.json``).

    Raises:
        FileNotFoundError: a source does not exist.
        NoDocumentsError: (a ValueError) no document survives cleaning; the manifest and
            report are written all the same and the message gives the per-filter counts.
        ValueError: a source's format is unknown.
    """
    out = Path(out)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    files, skipped = expand_sources(sources)
    if not files:
        raise ValueError(f"no readable source files in {sources} (.txt, .jsonl, .gz)")
    key_src = json.dumps({"v": STAGE_VERSION, "cfg": {k: v for k, v in cfg.items()
                                                        if k not in ("tokenizer", "shards",
                                                                     "build")},
                          "files": [(p, f, file_sha256(p)) for p, f in files]},
                         sort_keys=True, ensure_ascii=False)
    key = hashlib.sha256(key_src.encode()).hexdigest()
    stamp = work / "clean.stamp.json"
    stats = None
    if stamp.is_file() and (work / "clean.jsonl").is_file():
        saved = json.loads(stamp.read_text(encoding="utf-8"))
        if saved.get("key") == key:
            stats = saved["stats"]  # an earlier run finished cleaning: start from there
    clock = _Clock(progress)
    if stats is None:
        stamp.unlink(missing_ok=True)
        stats = clean_corpus(files, cfg, work, progress)
        clock.lap("read, clean, deduplicate")
        tmp = work / "clean.stamp.json.tmp"
        tmp.write_text(json.dumps({"key": key, "stats": stats}, ensure_ascii=False),
                       encoding="utf-8")
        os.replace(tmp, stamp)
    if stats["kept"] == 0:
        _remove_outputs(out)  # an old build's shards must not pass for this one's
        write_outputs(out, cfg, stats, skipped, None, "", {})
        shutil.rmtree(work, ignore_errors=True)
        raise NoDocumentsError(f"no document survived cleaning: {drop_summary(stats)}; the "
                               f"counts are in {out / 'report.md'}; loosen the thresholds "
                               "that dropped them (docs/data.md lists each)")
    t = cfg["tokenizer"]
    # train on the training split only, so validation text stays unseen
    val_fraction = cfg["shards"]["val_fraction"]
    if not any(split_of(d["hash"], val_fraction) == "train" for d in iter_clean(work)):
        raise ValueError(f"all {stats['kept']} kept documents fell in the validation split; "
                         "lower shards.val_fraction or add documents")
    train_texts = (d["text"] for d in iter_clean(work)
                   if split_of(d["hash"], val_fraction) == "train")
    tok = train_tokenizer(train_texts, t["kind"], t["vocab_size"], t["min_frequency"])
    (out / ("vocab.json" if t["kind"] == "bpe" else "tokenizer.json")).unlink(missing_ok=True)
    tok_path = tok.save(out)
    clock.lap("train tokenizer")
    splits = write_shards(out, work, tok, cfg)
    clock.lap("encode, write shards")
    manifest = write_outputs(out, cfg, stats, skipped, tok, tok_path.name, splits)
    clock.lap("manifest, report")
    shutil.rmtree(work, ignore_errors=True)  # finished: nothing left to resume
    return manifest


class NoDocumentsError(ValueError):
    """Every document was dropped (bad record, filter or duplicate); the report is written."""


def drop_summary(stats: dict[str, Any]) -> str:
    """One line: documents read, bad records, and the drops of each filter and dedup."""
    drops = ", ".join(f"{name} {n}" for name, n in stats["drops"].items())
    return (f"read {stats['read']} documents ({stats['bad_count']} bad records); dropped by "
            f"filter: {drops}; duplicates: exact {stats['dedup']['exact']}, near "
            f"{stats['dedup']['near']}")


def _remove_outputs(out: Path) -> None:
    for old in [*out.glob("train_*.bin"), *out.glob("val_*.bin"), out / "tokenizer.json",
                out / "vocab.json"]:
        old.unlink(missing_ok=True)


class _Clock:
    """Prints each stage's wall time to stderr when progress is shown (kept out of the
    manifest, which must not change from run to run)."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.t = time.perf_counter()

    def lap(self, what: str) -> None:
        now = time.perf_counter()
        if self.on:
            print(f"{what}: {now - self.t:.1f} s", file=sys.stderr)
        self.t = now
