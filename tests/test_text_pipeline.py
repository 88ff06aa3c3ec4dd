"""The whole build on a small dirty corpus made here: what is kept, dropped, replaced,
and the counts in the manifest; same shards with 1 or 2 workers, and after an
interrupted build is run again."""

import gzip
import hashlib
import json

import numpy as np
import pytest
from opencc import OpenCC

from zili.data.loader import ShardLoader
from zili.data.shards import read_shard
from zili.text.config import load_config
from zili.text.pipeline import build
from zili.text.tokenizer import load_tokenizer


def luhn_complete(prefix):
    for d in "0123456789":
        digits = [int(c) for c in prefix + d][::-1]
        total = sum(digits[0::2]) + sum(sum(divmod(2 * x, 10)) for x in digits[1::2])
        if total % 10 == 0:
            return prefix + d
    raise AssertionError


LONG = "".join(chr(0x4E00 + 7 * i) for i in range(200))  # 200 distinct ideographs
NEAR = LONG[:100] + "好" + LONG[101:]
CARD = luhn_complete("621700001234567890")
CLEAN = "今天天气很好，我们一起去公园散步，然后去吃午饭。"
PII = ("这是一条包含多种个人信息的测试消息，用来检查替换是否正确。"
       f"请联系张三，手机13812345678，邮箱zhang.san@example.com，服务器192.168.1.10，"
       f"身份证11010519491231002X，银行卡{CARD}，假证110105194912310021。")
# Chinese punctuation stays full-width (NFKC would have made it ASCII)
PII_OUT = ("这是一条包含多种个人信息的测试消息，用来检查替换是否正确。"
           "请联系张三，手机<PHONE>，邮箱<EMAIL>，服务器<IP>，身份证<ID_CARD>，"
           "银行卡<BANK_CARD>，假证110105194912310021。")
TRAD = "這是一個繁體中文的句子，看看會不會被轉換。"
TRAD_OUT = "这是一个繁体中文的句子，看看会不会被转换。"
REVIEW = "这本书写得真好，推荐给大家阅读。"

# the t2s stage is OpenCC's: compare with the library itself, called directly
LONG_OUT = OpenCC("t2s").convert(LONG)
KEPT = {CLEAN, LONG_OUT, PII_OUT, TRAD_OUT, REVIEW}


def make_corpus(root):
    src = root / "src"
    src.mkdir()
    lines = [CLEAN, CLEAN, LONG, NEAR, "hello world, this is English only text.",
             "太短了", "点击这里领取大奖" * 10, "价格☆☆☆☆★★★★优惠活动开始了",
             "价格是12345和67890元整", "这篇文章包含违禁词语应该被删除", PII]
    data = "\n".join(lines).encode() + b"\n\xff\xfe\xfd broken\n" + TRAD.encode() + b"\n"
    (src / "a.txt").write_bytes(data)
    with gzip.open(src / "b.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": REVIEW}, ensure_ascii=False) + "\n")
        fh.write("{broken json\n")
        fh.write('{"title": "no text field"}\n')
        fh.write(json.dumps({"text": "第一行内容在这里\n第一行内容在这里\n"
                                     "第一行内容在这里\n另外一行的内容"},
                            ensure_ascii=False) + "\n")
        fh.write(json.dumps({"text": "\u3000" + REVIEW + "\u200b"}, ensure_ascii=False) + "\n")
    (src / "notes.md").write_text("not a corpus file", encoding="utf-8")
    return src


def config(**build_opts):
    return load_config(overrides={
        "reader": {"text_unit": "line"},  # a.txt holds one document per line
        "normalize": {"t2s": True},
        "filters": {"blocklist": ["违禁词"]},
        "tokenizer": {"vocab_size": 400},
        "shards": {"val_fraction": 0.3, "shard_tokens": 200},
        "build": {"workers": 1, "batch_docs": 4, **build_opts},
        "licences": {"*.jsonl.gz": "CC-BY-4.0"},
        "default_licence": "MIT",
    })


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    src = make_corpus(root)
    m = build([str(src)], root / "out", config())
    return root, src, m


def decoded_documents(out):
    tok = load_tokenizer(out)
    docs = {}
    for split in ("train", "val"):
        ids = np.concatenate([np.asarray(read_shard(p)) for p in
                              sorted(out.glob(f"{split}_*.bin"))] or [np.zeros(0, int)])
        assert len(ids) == 0 or ids[-1] == tok.eos_id
        parts = np.split(ids, np.flatnonzero(ids == tok.eos_id) + 1)[:-1]
        docs[split] = [tok.decode(p[:-1].tolist()) for p in parts]
    return docs


def test_kept_documents_exactly(built):
    root, _, m = built
    docs = decoded_documents(root / "out")
    assert sorted(docs["train"] + docs["val"]) == sorted(KEPT)
    for split, texts in docs.items():  # split by hash: independent recomputation
        for t in texts:
            h = int(hashlib.sha256(t.encode()).hexdigest()[:16], 16)
            assert (h / 2**64 < 0.3) == (split == "val")


def test_manifest_counts(built):
    root, src, m = built
    # 12 documents in a.txt (+1 bad line), 3 in b.jsonl.gz (+2 bad lines)
    assert m["documents"] == {"read": 15, "after_filters": 8, "kept": 5}
    drops = {f["name"]: f["dropped"] for f in m["filters"]}
    assert drops == {"length": 1, "cjk_ratio": 1, "dup_lines": 1, "top_ngram": 1,
                     "dup_ngram": 0, "symbol_ratio": 1, "digit_ratio": 1, "blocklist": 1}
    assert m["filters"][0]["in"] == 15 and m["filters"][-1]["kept"] == 8
    assert m["pii"] == {"email": 1, "ip": 1, "id_card": 1, "bank_card": 1, "phone": 1}
    # CLEAN twice and REVIEW twice (once with padding that normalisation removes): exact;
    # NEAR differs from LONG in one character: near
    assert (m["dedup"]["exact"], m["dedup"]["near"], m["dedup"]["in"]) == (2, 1, 8)
    bad = m["bad_records"]
    assert bad["count"] == 3
    assert {(b["source"].rsplit("/", 1)[-1], b["line"]) for b in bad["listed"]} == {
        ("a.txt", 12), ("b.jsonl.gz", 2), ("b.jsonl.gz", 3)}
    assert bad["by_reason"] == {"invalid UTF-8": 1, "invalid JSON": 1,
                                "missing field 'text'": 1}
    srcs = {s["path"].rsplit("/", 1)[-1]: s for s in m["sources"]}
    assert srcs["a.txt"]["licence"] == "MIT" and srcs["b.jsonl.gz"]["licence"] == "CC-BY-4.0"
    raw = (src / "a.txt").read_bytes()
    assert srcs["a.txt"]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert srcs["a.txt"]["size"] == len(raw)
    assert (srcs["a.txt"]["documents"], srcs["a.txt"]["bad_records"]) == (12, 1)
    assert m["skipped_files"] == [str(src / "notes.md")]
    total = sum(s["tokens"] for s in m["splits"].values())
    chars = sum(len(t) for t in KEPT)
    assert m["tokenizer"]["chars_per_token"] == pytest.approx(chars / total, abs=1e-4)
    on_disk = json.loads((root / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(m))


def test_report_files(built):
    root, _, m = built
    report = (root / "out" / "report.md").read_text(encoding="utf-8")
    assert "| top_ngram |" in report and "| phone | 1 |" in report
    assert "| CC-BY-4.0 |" in report
    assert (root / "out" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # several shards per split, since shard_tokens is tiny
    assert len(m["splits"]["train"]["shards"]) + len(m["splits"]["val"]["shards"]) >= 2


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("*_*.bin"))} | {
        "tokenizer.json": (out / "tokenizer.json").read_bytes()}


def test_two_workers_same_shards(built, tmp_path):
    root, src, _ = built
    build([str(src)], tmp_path / "out2", config(workers=2))
    assert shard_bytes(tmp_path / "out2") == shard_bytes(root / "out")


def test_interrupted_build_resumes_to_same_shards(built, tmp_path, monkeypatch):
    root, src, _ = built
    import zili.text.pipeline as pl

    real = pl.write_shard
    calls = []

    def dying(path, ids, dtype=None):
        if len(calls) == 1:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-build
        calls.append(path)
        real(path, ids, dtype)

    monkeypatch.setattr(pl, "write_shard", dying)
    with pytest.raises(KeyboardInterrupt):
        build([str(src)], tmp_path / "out3", config())
    assert not (tmp_path / "out3" / "manifest.json").exists()
    monkeypatch.setattr(pl, "write_shard", real)
    # the rerun starts from the saved clean documents: no cleaning stage runs again
    monkeypatch.setattr(pl, "clean_corpus", lambda *a, **k: pytest.fail("cleaned twice"))
    build([str(src)], tmp_path / "out3", config())
    assert shard_bytes(tmp_path / "out3") == shard_bytes(root / "out")
    assert not list((tmp_path / "out3").glob(".*tmp"))


def test_rebuild_with_changed_config_reruns_and_removes_stale_shards(built, tmp_path):
    _, src, _ = built
    out = tmp_path / "o"
    build([str(src)], out, config())
    many = len(list(out.glob("*.bin")))
    cfg = config()
    cfg["shards"]["shard_tokens"] = 10**6
    cfg["filters"]["blocklist"] = ["违禁词", "公园"]
    m = build([str(src)], out, cfg)
    assert len(list(out.glob("*.bin"))) == 2 < many
    assert m["documents"]["kept"] == 4  # CLEAN now blocked
    # the 违禁词 document and both copies of CLEAN
    assert {f["name"]: f["dropped"] for f in m["filters"]}["blocklist"] == 3


def test_char_tokenizer_build_and_loader(built, tmp_path):
    _, src, _ = built
    cfg = config()
    cfg["tokenizer"] = {"kind": "char", "vocab_size": 1000, "min_frequency": 1}
    cfg["shards"]["val_fraction"] = 0.0
    out = tmp_path / "c"
    build([str(src)], out, cfg)
    assert (out / "vocab.json").exists() and not (out / "tokenizer.json").exists()
    assert sorted(decoded_documents(out)["train"]) == sorted(KEPT)
    ld = ShardLoader(out, "train", context=16, batch_size=2, seed=0)
    x, y = ld.next_batch()
    assert x.shape == (2, 16) and np.array_equal(x[:, 1:], y[:, :-1])


def test_no_document_survives(tmp_path):
    (tmp_path / "a.txt").write_text("short\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no document survived"):
        build([str(tmp_path / "a.txt")], tmp_path / "out", config())


def test_empty_training_split_is_refused(tmp_path):
    # one document; a val_fraction just below 1 puts it in validation unless its hash
    # is above that (probability 1e-9)
    (tmp_path / "a.txt").write_text(CLEAN + "\n", encoding="utf-8")
    cfg = config()
    cfg["shards"]["val_fraction"] = 1 - 1e-9
    with pytest.raises(ValueError, match="fell in the validation split"):
        build([str(tmp_path / "a.txt")], tmp_path / "out", cfg)


def test_interrupted_while_cleaning_resumes_to_same_shards(built, tmp_path, monkeypatch):
    root, src, _ = built
    import zili.text.pipeline as pl

    real = pl.Deduplicator.check
    seen = []

    def dying(self, digest, sig):
        seen.append(digest)
        if len(seen) == 5:
            raise KeyboardInterrupt
        return real(self, digest, sig)

    monkeypatch.setattr(pl.Deduplicator, "check", dying)
    with pytest.raises(KeyboardInterrupt):
        build([str(src)], tmp_path / "o", config())
    assert not (tmp_path / "o" / "work" / "clean.stamp.json").exists()
    monkeypatch.setattr(pl.Deduplicator, "check", real)
    build([str(src)], tmp_path / "o", config())
    assert shard_bytes(tmp_path / "o") == shard_bytes(root / "out")
