"""Data quality on real dirty text (issue 8 item 7): whole terminal escape sequences removed,
plain text split on blank lines with wrapped CJK lines joined without spaces, Chinese
punctuation kept full-width, an empty build still reports, no work/ folder left behind,
output files follow the umask. Expected strings are written out by hand."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from zili.cli.main import main
from zili.text.config import load_config
from zili.text.normalize import normalize
from zili.text.pipeline import build
from zili.text.readers import Document, join_wrapped, read_file


@pytest.mark.parametrize(("raw", "want"), [
    ("\x1b[33;1m警告\x1b[0m：磁盘已满", "警告：磁盘已满"),  # SGR colours
    ("\x1b[2J\x1b[1;1H正文开始", "正文开始"),  # clear screen, cursor move
    ("\x1b]0;窗口标题\x07正文", "正文"),  # OSC title ended by BEL
    ("\x1b]8;;http://x.cn\x1b\\链接\x1b]8;;\x1b\\文字", "链接文字"),  # OSC 8 hyperlink
    ("\x1b(B\x1b7保存\x1b8光标", "保存光标"),  # charset selection, save/restore cursor
    ("\x9b31m八位控制\x9b0m", "八位控制"),  # 8-bit CSI
    ("[33;1m没有ESC的方括号保留", "[33;1m没有ESC的方括号保留"),  # no ESC: ordinary text
])
def test_ansi_escape_sequences_are_removed_whole(raw: str, want: str) -> None:
    assert normalize(raw) == want


@pytest.mark.parametrize(("raw", "want"), [
    ("你好，世界！真的？（是的）：好；～……", "你好，世界！真的？（是的）：好；～……"),
    ("你好,世界!", "你好，世界！"),  # ASCII between CJK characters becomes full-width
    ("你好, 世界", "你好，世界"),
    ("真的?\n好的!", "真的？\n好的！"),  # ending a CJK sentence at the end of a line
    ("中(国)", "中（国）"),
    ("Hello, world! (yes)", "Hello, world! (yes)"),  # Latin text keeps ASCII
    ("版本3.1,发布", "版本3.1,发布"),  # a digit is not a CJK character
    ("ＡＢＣ１２３", "ABC123"),  # NFKC still folds full-width letters and digits
])
def test_chinese_punctuation_stays_full_width(raw: str, want: str) -> None:
    assert normalize(raw) == want


def test_txt_split_on_blank_lines_joining_wrapped_cjk_without_spaces(tmp_path: Path) -> None:
    path = tmp_path / "wrapped.txt"
    path.write_text("第一段的第一行，\n第一段的第二行。\n\n"
                    "Second paragraph wraps\nonto a second line.\n"
                    "   \n"  # a line of spaces is blank too
                    "混合 mixed\n文本。\n", encoding="utf-8")
    cfg = load_config()
    assert cfg["reader"]["text_unit"] == "paragraph"
    assert list(read_file(path, "text", cfg)) == [
        Document("第一段的第一行，第一段的第二行。", str(path), 1),
        Document("Second paragraph wraps onto a second line.", str(path), 4),
        Document("混合 mixed 文本。", str(path), 7),
    ]
    per_line = load_config(overrides={"reader": {"text_unit": "line"}})
    assert [d.text for d in read_file(path, "text", per_line)] == [
        "第一段的第一行，", "第一段的第二行。", "Second paragraph wraps",
        "onto a second line.", "混合 mixed", "文本。"]
    assert join_wrapped(["中文", "English", "继续"]) == "中文 English 继续"


def _src(tmp_path: Path, text: str) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "a.txt").write_text(text, encoding="utf-8")
    return src


def test_build_where_nothing_survives_prints_filter_counts_and_writes_report(
        tmp_path: Path, capsys) -> None:
    src = _src(tmp_path, "短\n\nhello world in English only, no Chinese at all here\n\n"
                         "\x1b[31m太短\x1b[0m\n")
    out = tmp_path / "out"
    assert main(["data", "build", str(src), "--out", str(out), "--workers", "1",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no document survived" in err
    assert "length 2" in err and "cjk_ratio 1" in err and "read 3 documents" in err
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| length |" in report and "no document survived" in report
    assert (out / "manifest.json").is_file() and not (out / "work").exists()
    assert not list(out.glob("*.bin"))


def test_finished_build_leaves_no_work_folder(tmp_path: Path) -> None:
    src = _src(tmp_path, "\n\n".join(f"第{i}段：今天天气很好，我们一起去公园散步，然后回家。"
                                     for i in range(20)))
    out = tmp_path / "out"
    cfg = load_config(overrides={"tokenizer": {"kind": "char"}, "build": {"workers": 1},
                                 "dedup": {"near": False}})
    m = build([str(src)], out, cfg)
    assert m["documents"]["kept"] == 20
    assert not (out / "work").exists()
    assert m["tokenizer"]["sha256"] == hashlib.sha256((out / "vocab.json").read_bytes()
                                                      ).hexdigest()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("umask", [0o022, 0o007])
def test_output_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    src = _src(tmp_path, "\n\n".join(f"第{i}段：今天天气很好，我们一起去公园散步。"
                                     for i in range(12)))
    out = tmp_path / "out"
    cfg = load_config(overrides={"tokenizer": {"kind": "char"}, "build": {"workers": 1}})
    old = os.umask(umask)
    try:
        build([str(src)], out, cfg)
    finally:
        os.umask(old)
    files = [p for p in out.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"manifest.json", "report.md", "vocab.json"}
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, p.name
