"""Corpus readers on hostile input (issue 8 item 4): every bad line is a counted bad record
with file and line, memory stays bounded on compression bombs, and line and document sizes
are bounded (configurable, counted in the report)."""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
from pathlib import Path

import pytest

from zili.text.config import load_config
from zili.text.pipeline import build
from zili.text.readers import BadRecord, Document, read_file

GOOD = "今天天气很好，我们一起去公园散步，然后去吃午饭，晚上回家看书。"


def _bomb(path: Path, block: bytes, mebibytes: int) -> None:
    """A gzip file that inflates to ``mebibytes`` MiB of ``block`` repeated: one compressed
    member per MiB (a multi-member gzip is one valid stream), so writing it is instant."""
    member = gzip.compress(block * ((1 << 20) // len(block)), compresslevel=9)
    path.write_bytes(member * mebibytes)


def _reader(**over: object) -> dict:
    return load_config(overrides={"reader": over} if over else None)


def test_gzip_of_zeros_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "zeros.txt.gz"
    _bomb(path, b"\0", 96)  # 96 KiB on disk, 96 MiB inflated, all one "line"
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    records = list(read_file(path, "text", _reader(text_unit="line")))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB of Python memory for a 96 MiB line"
    assert records == [BadRecord(str(path), 1, f"line too long: {96 << 20} bytes "
                                                f"(reader.max_line_bytes is {1 << 20})")]


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_gzip_of_newlines_finishes_fast(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"newlines.{fmt}.gz"
    _bomb(path, b"\n", 64)
    with open(path, "ab") as fh:  # one real document after 64 Mi blank lines
        fh.write(gzip.compress(json.dumps({"text": GOOD}, ensure_ascii=False).encode()
                               if fmt == "jsonl" else GOOD.encode()))
    tracemalloc.start()
    started = time.perf_counter()
    records = list(read_file(path, fmt, _reader()))
    took = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert records == [Document(GOOD, str(path), (64 << 20) + 1)]
    # the old reader split every line in Python: minutes; now ~1 s on a loaded machine
    assert took < 20, f"{took:.1f} s for 64 MiB of newlines"
    assert peak < 8 << 20


@pytest.mark.parametrize(("line", "reason"), [
    ('{"text": ' + "[" * 100_000 + "]" * 100_000 + "}", "invalid JSON: nesting too deep"),
    ('{"text": ' + "9" * 5000 + "}", "invalid JSON: Exceeds the limit"),
    ('{"text": 5}', "field 'text' is int, not a string"),
    ('{"text": ["a", "b"]}', "field 'text' is list, not a string"),
    ('{"text": {"zh": "好"}}', "field 'text' is dict, not a string"),
    ('{"text": null}', "field 'text' is NoneType, not a string"),
    ('["text"]', "missing field 'text'"),
    ('{"text": "a", "text": "b"}', "invalid JSON: duplicate key"),
    ('{"a":' * 100_000 + "1" + "}" * 100_000, "invalid JSON: nesting too deep"),
])
def test_hostile_jsonl_line_becomes_a_bad_record_with_file_and_line(tmp_path: Path, line: str,
                                                                   reason: str) -> None:
    path = tmp_path / "c.jsonl"
    good = json.dumps({"text": GOOD}, ensure_ascii=False)
    path.write_text(f"{good}\n{line}\n{good}\n", encoding="utf-8")
    records = list(read_file(path, "jsonl", _reader()))
    assert [type(r) for r in records] == [Document, BadRecord, Document]
    assert records[1].source == str(path) and records[1].line == 2
    assert records[1].reason.startswith(reason), records[1].reason
    assert records[2].line == 3


def test_document_and_line_bounds_are_configurable(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    long_para = "\n".join([GOOD] * 40)  # 40 wrapped lines, ~3.7 KB
    path.write_text(f"{GOOD}\n\n{long_para}\n\n{'好' * 500}\n\n{GOOD}\n", encoding="utf-8")
    records = list(read_file(path, "text", _reader(max_document_bytes=2000,
                                                   max_line_bytes=1000)))
    assert [(type(r).__name__, r.line) for r in records] == [
        ("Document", 1), ("BadRecord", 3), ("BadRecord", 44), ("Document", 46)]
    assert records[1].reason.startswith("document too long: more than 2000 bytes")
    assert records[2].reason == "line too long: 1500 bytes (reader.max_line_bytes is 1000)"
    whole = list(read_file(path, "text", _reader(text_unit="file", max_document_bytes=100)))
    assert len(whole) == 1 and whole[0].reason.startswith("document too long")


def test_bad_lines_and_size_bounds_are_counted_in_the_report(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    good = [json.dumps({"text": f"第{i}条。" + GOOD}, ensure_ascii=False) for i in range(30)]
    bad = ['{"text": ' + "[" * 5000 + "]" * 5000 + "}", '{"text": ' + "9" * 5000 + "}",
           '{"text": 7}', json.dumps({"text": "长" * 6000}, ensure_ascii=False)]
    (src / "c.jsonl").write_text("\n".join(good[:10] + bad + good[10:]) + "\n",
                                 encoding="utf-8")
    cfg = load_config(overrides={"reader": {"max_line_bytes": 16384},
                                 "tokenizer": {"kind": "char", "vocab_size": 200},
                                 "shards": {"val_fraction": 0.0},
                                 "build": {"workers": 1}})
    m = build([str(src)], tmp_path / "out", cfg)
    assert m["bad_records"]["count"] == 4
    assert m["bad_records"]["by_reason"] == {"invalid JSON": 2, "field 'text' is int, not a "
                                             "string": 1, "line too long": 1}
    listed = {(Path(b["source"]).name, b["line"]) for b in m["bad_records"]["listed"]}
    assert listed == {("c.jsonl", 11), ("c.jsonl", 12), ("c.jsonl", 13), ("c.jsonl", 14)}
    assert m["documents"]["read"] == 30
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| line too long | 1 |" in report
