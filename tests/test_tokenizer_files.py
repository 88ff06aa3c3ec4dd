"""Tokenizer files that zili did not write (issue 8 item 3): one TokenizerError naming the
file whatever is wrong, regexes that could backtrack exponentially refused (a checkpoint
embeds its tokenizer, so this guards `zili generate`), and unknown prompt characters named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zili.data.corpus import CharVocab
from zili.data.sources import tokenizer_from_record, unknown_characters
from zili.models import hub
from zili.text.regex_guard import backtracking_risk
from zili.text.tokenizer import BPETokenizer, CharTokenizer, TokenizerError, load_tokenizer

CORPUS = ["今天天气很好", "我们去公园散步", "hello world, hello zili"] * 4
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+"
         r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
O200K = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
         r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+"
         r"|\s+(?!\S)|\s+")


@pytest.mark.parametrize("pattern", [GPT2, QWEN2, O200K, r"[a-z]+", r"(?:ab)+", r"(a|b)?",
                                     r"\{x\}+", r"(a+)++", r"(?>a+)+", r"\s+"])
def test_regex_guard_accepts_published_tokenizer_patterns(pattern: str) -> None:
    assert backtracking_risk(pattern) is None


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|a)*", r"(\w+\s?)*$", r"(?:a*)*",
                                     r"((ab)*)+", r"(x+x+)+y", r"a**", r"(a|b){2,}",
                                     r"(.*a){20}", "(", ")", "x" * 5000])
def test_regex_guard_refuses_exponential_backtracking(pattern: str) -> None:
    assert backtracking_risk(pattern) is not None


def _with_split(tmp_path: Path, pattern: str) -> Path:
    tok = BPETokenizer.train(CORPUS, 300)
    path = tok.save(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated",
         "invert": False}, data["pre_tokenizer"]]}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_tokenizer_with_backtracking_regex_is_refused(tmp_path: Path) -> None:
    path = _with_split(tmp_path, r"(a+)+$")
    with pytest.raises(TokenizerError, match=f"{path}: refusing regex .*nested quantifiers"):
        BPETokenizer.load(path)
    with pytest.raises(TokenizerError, match=str(path)):
        load_tokenizer(tmp_path)


def test_tokenizer_with_published_regex_loads_and_round_trips(tmp_path: Path) -> None:
    tok = BPETokenizer.load(_with_split(tmp_path, GPT2))
    text = "今天 hello world"
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "invalid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 100_000, "nesting|invalid JSON"),
    (b'{"model": {"type": "NoSuchModel"}}', "tokenizers library cannot load"),
    (b'{"version": "1.0"}', "no model object"),
    (b'{"model": 5}', "no model object"),
])
def test_malformed_tokenizer_file_raises_one_error_naming_it(tmp_path: Path, content: bytes,
                                                            problem: str) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_bytes(content)
    with pytest.raises(TokenizerError, match=f"{path}.*({problem})"):
        BPETokenizer.load(path)


@pytest.mark.parametrize("content", [b'{"kind": "char", "tokens": [1, 2]}', b"[]",
                                     b'{"kind": "char", "tokens": ["a", "b"]}',
                                     b'{"kind": "bpe"}', b'{"kind": "char"}'])
def test_malformed_character_vocabulary_raises_tokenizer_error(tmp_path: Path,
                                                               content: bytes) -> None:
    path = tmp_path / "vocab.json"
    path.write_bytes(content)
    with pytest.raises(TokenizerError, match=str(path)):
        CharTokenizer.load(path)


def test_tokenizer_without_end_of_text_token_is_refused(tmp_path: Path) -> None:
    path = BPETokenizer.train(CORPUS, 300).save(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("<|endoftext|>", "<|eot|>"),
                    encoding="utf-8")
    with pytest.raises(TokenizerError, match="no '<|endoftext|>' token"):
        BPETokenizer.load(path)


@pytest.mark.parametrize("record", [
    {"kind": "embedded", "file": "tokenizer.json", "text": "{bad"},
    {"kind": "embedded", "file": "evil.py", "text": "{}"},
    {"kind": "embedded", "file": "tokenizer.json"},
    {"kind": "char", "chars": "[1, 2]"},
    {"kind": "char", "chars": '["a"]'},
    {"kind": "char", "chars": 5},
    {"kind": "pickle"},
    ["not", "a", "dict"],
])
def test_checkpoint_tokenizer_record_errors_name_the_checkpoint(record: object) -> None:
    with pytest.raises(TokenizerError, match="ck.safetensors"):
        tokenizer_from_record(record, "ck.safetensors")


def test_checkpoint_embedding_a_backtracking_regex_is_refused(tmp_path: Path) -> None:
    text = _with_split(tmp_path, r"(\w+\s?)*$").read_text(encoding="utf-8")
    record = {"kind": "embedded", "file": "tokenizer.json", "text": text}
    with pytest.raises(TokenizerError,
                       match=r"ck.safetensors \(embedded tokenizer.json\): refusing regex"):
        tokenizer_from_record(record, "ck.safetensors")


def test_unknown_prompt_characters_are_named() -> None:
    vocab = CharVocab(["<unk>", "中", "国"])
    assert unknown_characters(vocab, "中国☃人中☃") == ["☃", "人"]
    char = CharTokenizer.train(["中国"], 10)
    assert unknown_characters(char, "中国人") == ["人"]
    assert unknown_characters(BPETokenizer.train(CORPUS, 300), "任何字符☃") == []


def test_generate_says_which_prompt_characters_are_unknown(tmp_path: Path, capsys) -> None:
    from zili.cli.main import main

    tiny = ["--max-chars", "3000", "--min-count", "3", "--context", "8", "--n-layer", "1",
            "--n-embd", "16", "--n-head", "2", "--batch-size", "2", "--eval-batches", "1",
            "--device", "numpy", "--no-progress"]
    assert main(["train", "--steps", "1", "--out", str(tmp_path), *tiny]) == 0
    capsys.readouterr()
    assert main(["generate", "--checkpoint", str(tmp_path / "ckpt.safetensors"), "--prompt",
                 "中国☃", "--max-new-tokens", "2", "--device", "numpy"]) == 0
    captured = capsys.readouterr()
    assert "outside the model's vocabulary" in captured.err and "☃" in captured.err
    assert captured.out.startswith("[中国☃] 中国□")  # still shown, but no longer silently


def test_altered_tokenizer_in_a_build_folder_is_refused(tmp_path: Path) -> None:
    import hashlib

    path = BPETokenizer.train(CORPUS, 300).save(tmp_path)
    clean = path.read_bytes()
    (tmp_path / "manifest.json").write_text(json.dumps({"tokenizer": {
        "file": "tokenizer.json", "sha256": hashlib.sha256(clean).hexdigest()}}))
    assert load_tokenizer(tmp_path).encode("今天") == BPETokenizer.load(path).encode("今天")
    # a still-valid but different tokenizer: swap two merges
    data = json.loads(clean)
    merges = data["model"]["merges"]
    merges[0], merges[1] = merges[1], merges[0]
    path.write_text(json.dumps(data), encoding="utf-8")
    BPETokenizer.load(path)  # loads on its own (no checksum in the file itself) ...
    with pytest.raises(TokenizerError, match=f"{path}: does not match the sha256"):
        load_tokenizer(tmp_path)  # ... but not as the build's tokenizer


def test_model_folder_tokenizer_with_backtracking_regex_is_refused(tmp_path: Path) -> None:
    # A downloaded Hugging Face folder goes through the same guard as builds and checkpoints.
    path = _with_split(tmp_path, r"(a+)+$")
    assert path.name == "tokenizer.json"
    with pytest.raises(TokenizerError, match=f"{path}: refusing regex"):
        hub.load_tokenizer(str(tmp_path))
    path.write_bytes(b'{"model": {"type": "NoSuchModel"}}')
    with pytest.raises(TokenizerError, match=f"{path}: the tokenizers library refused it"):
        hub.load_tokenizer(str(tmp_path))
