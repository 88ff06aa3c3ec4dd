"""Tokenizers: round trips, special tokens, saving and loading both kinds."""

import json

import pytest

from zili.text.tokenizer import (
    EOS,
    BPETokenizer,
    CharTokenizer,
    load_tokenizer,
    train_tokenizer,
)

CORPUS = ["今天天气很好，我们去公园散步。", "明天天气也很好，我们去爬山。",
          "Hello 世界 123!", "天气预报说今天有雨。"] * 20


def test_bpe_round_trip_and_save_load(tmp_path):
    tok = train_tokenizer(CORPUS, "bpe", 300, 2)
    assert isinstance(tok, BPETokenizer)
    assert tok.eos_id == 0 and tok.vocab_size <= 300
    for s in CORPUS[:4] + ["从未见过的字：龘𠀀 emoji 😀", ""]:
        assert tok.decode(tok.encode(s)) == s  # byte level: nothing is unknown
    # merges learnt: the frequent text takes fewer tokens than its UTF-8 bytes
    assert len(tok.encode(CORPUS[0])) < len(CORPUS[0].encode())
    assert tok.encode_batch(CORPUS[:2]) == [tok.encode(CORPUS[0]), tok.encode(CORPUS[1])]
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.encode(CORPUS[0]) == tok.encode(CORPUS[0])
    assert again.vocab_size == tok.vocab_size
    assert again.decode([0] + tok.encode("好") + [0]) == "好"
    assert json.loads((tmp_path / "tokenizer.json").read_text())["added_tokens"][0][
        "content"] == EOS


def test_bpe_training_is_deterministic():
    a = BPETokenizer.train(CORPUS, 300)
    b = BPETokenizer.train(CORPUS, 300)
    assert a._tok.to_str() == b._tok.to_str()


def test_char_tokenizer(tmp_path):
    tok = CharTokenizer.train(["甲甲甲乙乙丙", "甲乙"], vocab_size=4, min_frequency=1)
    assert tok.tokens == [EOS, "<unk>", "甲", "乙"]  # most frequent first
    assert tok.encode("甲乙丙丁") == [2, 3, 1, 1]
    assert tok.decode([0, 2, 3, 1]) == "甲乙\ufffd"
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    assert isinstance(again, CharTokenizer) and again.tokens == tok.tokens
    # ties are broken by code point, whatever the input order
    assert CharTokenizer.train(["甲乙"], 10).tokens == [EOS, "<unk>", "乙", "甲"]


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="zili data build"):
        load_tokenizer(tmp_path)
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        train_tokenizer([], "wordpiece", 10)
    with pytest.raises(ValueError, match="must start with"):
        CharTokenizer(["a", "b"])
    (tmp_path / "vocab.json").write_text('{"kind": "bpe"}')
    with pytest.raises(ValueError, match="not a zili character vocabulary"):
        load_tokenizer(tmp_path)
