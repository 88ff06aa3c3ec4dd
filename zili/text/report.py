"""Provenance and report: manifest.json, report.md and report.png of a build folder.

The manifest is the machine-readable record (sources with size, sha256 and declared
licence; bad records; per-filter kept/dropped; personal data replaced; duplicates;
tokenizer; shards with their sha256). It holds no timestamps, so the same build gives
the same manifest. report.md shows the same tables for people, and report.png plots
the document-length distribution and the drops per filter.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from zili.files import atomic_write

MANIFEST_VERSION = 1
LENGTH_EDGES = [0, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 100_000]


def length_histogram(all_lengths: list[int], kept_lengths: list[int]) -> dict[str, Any]:
    """Counts of document lengths (characters) per bin of :data:`LENGTH_EDGES`.

    Bin i holds lengths in [edges[i], edges[i+1]); the last bin is open-ended.
    """
    edges = np.asarray(LENGTH_EDGES)

    def count(xs: list[int]) -> list[int]:
        idx = np.searchsorted(edges, np.asarray(xs, dtype=np.int64), side="right") - 1
        return np.bincount(idx, minlength=len(edges)).tolist()

    return {"edges": LENGTH_EDGES, "all": count(all_lengths), "kept": count(kept_lengths)}


def _thresholds(cfg: dict[str, Any]) -> dict[str, str]:
    f = cfg["filters"]
    fmt = ", ".join
    return {
        "length": f"{f['min_chars']} <= characters <= {f['max_chars']}",
        "cjk_ratio": f"CJK share >= {f['min_cjk_ratio']}",
        "dup_lines": f"repeated lines <= {f['max_dup_line_frac']}, their characters <= "
                     f"{f['max_dup_line_char_frac']}",
        "top_ngram": "top n-gram share " + fmt(f"n={k}: {v}" for k, v in
                                                 f["top_ngram_char_frac"].items())
                     + f" (docs >= {f['ngram_min_tokens']} tokens)",
        "dup_ngram": "duplicated n-gram share " + fmt(f"n={k}: {v}" for k, v in
                                                      f["dup_ngram_char_frac"].items())
                     + f" (docs >= {f['ngram_min_tokens']} tokens)",
        "symbol_ratio": f"symbol share <= {f['max_symbol_ratio']}",
        "digit_ratio": f"digit share <= {f['max_digit_ratio']}",
        "blocklist": f"{len(f['blocklist'])} keywords",
    }


def make_manifest(cfg: dict[str, Any], stats: dict[str, Any], skipped: list[str],
                  tok: Any, tok_file: str, splits: dict[str, Any],
                  out: Path) -> dict[str, Any]:
    """Assemble the manifest dict from the build's statistics (``tok`` is None, and
    ``splits`` empty, when no document survived)."""
    thresholds = _thresholds(cfg)
    filters = []
    remaining = stats["read"]
    for name, dropped in stats["drops"].items():
        filters.append({"name": name, "threshold": thresholds[name], "in": remaining,
                        "dropped": dropped, "kept": remaining - dropped})
        remaining -= dropped
    for split in splits.values():
        for sh in split["shards"]:
            sh["sha256"] = hashlib.sha256((out / sh["file"]).read_bytes()).hexdigest()
    chars = sum(s["characters"] for s in splits.values())
    toks = sum(s["tokens"] for s in splits.values())
    return {
        "manifest_version": MANIFEST_VERSION,
        "sources": stats["sources"],
        "skipped_files": skipped,
        "bad_records": {"count": stats["bad_count"], "by_reason": stats["bad_by_reason"],
                        "listed": stats["bad"]},
        "documents": {"read": stats["read"], "after_filters": remaining,
                      "kept": stats["kept"]},
        "filters": filters,
        "pii": stats["pii"],
        "dedup": {**stats["dedup"], "threshold": cfg["dedup"]["threshold"],
                  "in": remaining},
        "tokenizer": {"kind": tok.kind if tok else None, "file": tok_file,
                      # load_tokenizer checks the file against this
                      "sha256": hashlib.sha256((out / tok_file).read_bytes()).hexdigest()
                      if tok else None,
                      "vocab_size": tok.vocab_size if tok else 0,
                      "eos_id": tok.eos_id if tok else None,
                      "chars_per_token": round(chars / toks, 4) if toks else 0.0},
        "splits": splits,
        "length_histogram": stats["length_histogram"],
        "config": cfg,
    }


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_report(m: dict[str, Any]) -> str:
    """The report.md text for a manifest."""
    d = m["documents"]
    parts = [
        "# Corpus build report", "",
        f"Documents read: {d['read']}; after filters: {d['after_filters']}; "
        f"kept after deduplication: {d['kept']}. "
        f"Bad records: {m['bad_records']['count']}.", "",
        "## Sources", "",
        _table(["path", "format", "size (bytes)", "sha256", "licence", "documents", "bad"],
               [[s["path"], s["format"], s["size"], s["sha256"][:16] + "...", s["licence"],
                 s["documents"], s["bad_records"]] for s in m["sources"]]), "",
        "## Filters", "",
        "Applied in this order; a document is counted against the first filter it fails.",
        "",
        _table(["filter", "threshold", "in", "dropped", "kept"],
               [[f["name"], f["threshold"], f["in"], f["dropped"], f["kept"]]
                for f in m["filters"]]), "",
        "## Personal data replaced", "",
        _table(["kind", "replaced"], [[k, v] for k, v in m["pii"].items()]), "",
        "## Deduplication", "",
        _table(["kind", "in", "dropped"],
               [["exact (sha256)", m["dedup"]["in"], m["dedup"]["exact"]],
                [f"near (MinHash, Jaccard >= {m['dedup']['threshold']})",
                 m["dedup"]["in"] - m["dedup"]["exact"], m["dedup"]["near"]]]), "",
        "## Tokenizer and shards", "",
        (f"Tokenizer: {m['tokenizer']['kind']} ({m['tokenizer']['file']}), vocabulary "
         f"{m['tokenizer']['vocab_size']}, {m['tokenizer']['chars_per_token']} characters "
         "per token." if m["tokenizer"]["kind"] else
         "No tokenizer and no shards: no document survived the filters above."), "",
        _table(["split", "documents", "tokens", "shards"],
               [[k, v["documents"], v["tokens"], len(v["shards"])]
                for k, v in m["splits"].items()]), "",
    ]
    if m["bad_records"]["count"]:
        parts += ["## Bad records", "",
                  _table(["reason", "count"], list(map(list,
                                                       m["bad_records"]["by_reason"].items()))),
                  "", _table(["file", "line", "reason"],
                             [[b["source"], b["line"], b["reason"]]
                              for b in m["bad_records"]["listed"][:50]]), ""]
    if m["skipped_files"]:
        parts += ["## Files skipped (format not recognised)", ""]
        parts += [f"- {p}" for p in m["skipped_files"]] + [""]
    parts += ["![document lengths and drops per filter](report.png)", ""]
    return "\n".join(parts)


def plot_report(m: dict[str, Any], path: Path) -> None:
    """Draw the length distribution and drops per filter into a PNG at ``path``.

    Raises:
        ImportError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("the report plot needs matplotlib: pip install zili[data]") from None
    h = m["length_histogram"]
    labels = [f"{a}-" for a in h["edges"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    x = np.arange(len(labels))
    ax1.bar(x - 0.2, h["all"], width=0.4, label="read")
    ax1.bar(x + 0.2, h["kept"], width=0.4, label="kept")
    ax1.set_xticks(x, labels, rotation=45, ha="right")
    ax1.set_xlabel("document length (characters)")
    ax1.set_ylabel("documents")
    ax1.set_title("Document length distribution")
    ax1.legend()
    names = [f["name"] for f in m["filters"]] + ["dedup exact", "dedup near"]
    drops = [f["dropped"] for f in m["filters"]] + [m["dedup"]["exact"], m["dedup"]["near"]]
    ax2.barh(names[::-1], drops[::-1], color="tab:red")
    ax2.set_xlabel("documents dropped")
    ax2.set_title("Drops per filter")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    atomic_write(path, buf.getvalue())


def write_outputs(out: Path, cfg: dict[str, Any], stats: dict[str, Any],
                  skipped: list[str], tok: Any, tok_file: str,
                  splits: dict[str, Any]) -> dict[str, Any]:
    """Write manifest.json, report.md and report.png into ``out``; return the manifest."""
    m = make_manifest(cfg, stats, skipped, tok, tok_file, splits, out)
    atomic_write(out / "manifest.json",
            json.dumps(m, ensure_ascii=False, indent=1).encode("utf-8"))
    atomic_write(out / "report.md", render_report(m).encode("utf-8"))
    plot_report(m, out / "report.png")
    return m


def load_manifest(directory: str | Path) -> dict[str, Any]:
    """Read a build folder's manifest.json.

    Raises:
        FileNotFoundError: the folder has no manifest (not a build folder).
    """
    p = Path(directory) / "manifest.json"
    if not p.is_file():
        raise FileNotFoundError(f"{directory} has no manifest.json; build it with "
                                "`zili data build SRC --out DIR`")
    return json.loads(p.read_text(encoding="utf-8"))
