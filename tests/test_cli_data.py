"""`zili data build` / `zili data inspect` through register() on a parser of our own."""

import argparse
import json

import pytest

from zili.cli.data import register


def run(argv):
    parser = argparse.ArgumentParser(prog="zili")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    lines = [f"第{i}篇评论：这本书的第{i}章写得很好，值得推荐给朋友们阅读。" for i in range(40)]
    (root / "reviews.txt").write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    (root / "news.dat").write_text("迈向/v  充满/v  希望/n  的/u  新/a  世纪/n  ，/w  "
                                   "我们/r  要/v  努力/a  工作/v  。/w\n", encoding="utf-8")
    (root / "cfg.toml").write_text('[tokenizer]\nvocab_size = 350\n[dedup]\nnear = false\n',
                                   encoding="utf-8")
    return root


def test_build_then_inspect(corpus, capsys):
    out = corpus / "out"
    rc = run(["data", "build", str(corpus / "reviews.txt"),
              f"snownlp_tagged:{corpus / 'news.dat'}", "--out", str(out),
              "--config", str(corpus / "cfg.toml"), "--licence", "*news*=CC0-1.0",
              "--workers", "1", "--no-progress"])
    assert rc == 0
    assert "read 41 documents, kept 41" in capsys.readouterr().out
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["config"]["tokenizer"]["vocab_size"] == 350
    assert [s["licence"] for s in m["sources"]] == ["CC0-1.0", "undeclared"]
    assert run(["data", "inspect", str(out), "--samples", "2"]) == 0
    text = capsys.readouterr().out
    assert "documents: read 41, after filters 41, kept 41; bad records 0" in text
    assert "news.dat (CC0-1.0)" in text
    samples = text.split("--- sample ")[1:]
    assert len(samples) == 2
    # samples are decoded documents of the corpus (tags stripped, punctuation normalised)
    known = {f"第{i}篇评论：这本书的第{i}章写得很好，值得推荐给朋友们阅读。" for i in range(40)}
    known.add("迈向充满希望的新世纪，我们要努力工作。")
    assert all(s.split("\n", 1)[1].strip() in known for s in samples)


def test_user_errors_exit_2(corpus, tmp_path, capsys):
    assert run(["data", "build", str(tmp_path / "missing.txt"), "--out",
                str(tmp_path / "o"), "--no-progress"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run(["data", "build", str(corpus / "reviews.txt"), "--out", str(tmp_path / "o"),
                "--licence", "nonsense", "--no-progress"]) == 2
    assert "GLOB=NAME" in capsys.readouterr().err
    assert run(["data", "inspect", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(["data"])  # a subcommand is required
