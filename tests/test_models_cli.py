"""``zili generate --model`` and ``zili eval --model`` on a small random Qwen2 folder, with
transformers (PyTorch CPU) and the ``tokenizers`` library as the oracles."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest

from zili.cli.main import main

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

EXAM = {
    "history": [
        ("秦朝统一中国是在哪一年？", "公元前221年", "公元前206年", "公元25年", "公元618年"),
        ("唐朝的都城是哪里？", "洛阳", "长安", "南京", "北京"),
        ("造纸术的改进者是谁？", "蔡伦", "毕昇", "张衡", "祖冲之"),
    ],
    "math": [
        ("一加一等于几？", "1", "2", "3", "4"),
        ("三角形内角和是多少度？", "90", "180", "270", "360"),
        ("最小的质数是几？", "1", "2", "3", "5"),
    ],
}
TEXT = "自立的深度学习框架。中国的语言模型在这里训练和评估。" * 3
PROMPTS = ["中国的", "你好"]
SPECIAL = ["<unk>", "<|im_start|>", "<|im_end|>"]


def _make_tokenizer(path: Path) -> tokenizers.Tokenizer:
    """A character-level WordLevel tokenizer over every character the tests use."""
    chars = set(TEXT) | set("".join(PROMPTS)) | set("ABCD.\n答案：以下是中国关于考试的单项选择题，"
                                                    "请选出其中正确user assistant")
    for rows in EXAM.values():
        for row in rows:
            chars |= set("".join(row))
    vocab = {t: i for i, t in enumerate(SPECIAL + sorted(chars))}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Split(tokenizers.Regex(r"[\s\S]"),
                                                       behavior="isolated")
    tok.decoder = tokenizers.decoders.Fuse()
    tok.add_special_tokens(SPECIAL[1:])
    tok.save(str(path / "tokenizer.json"))
    return tok


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("qwen")
    tok = _make_tokenizer(path)
    torch.manual_seed(1)
    config = transformers.Qwen2Config(vocab_size=tok.get_vocab_size(), hidden_size=32,
                                      intermediate_size=48, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2,
                                      tie_word_embeddings=True, eos_token_id=2)
    hf = transformers.Qwen2ForCausalLM(config).eval()
    hf.save_pretrained(path)
    return path, hf, tok


def _logprobs(hf, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        logits = hf(torch.tensor([ids])).logits[0].double()
    return torch.log_softmax(logits, -1).numpy()


def _prompt(subject: str, question: tuple, shots: list[tuple]) -> str:
    """C-Eval's prompt, written out independently of zili.models.evaluation."""
    def block(q, answer):
        return (q[0] + "\n" + "".join(f"{k}. {o}\n" for k, o in zip("ABCD", q[1:5])) + "答案："
                + (answer + "\n\n" if answer else ""))
    head = f"以下是中国关于{subject}考试的单项选择题，请选出其中的正确答案。\n\n"
    return head + "".join(block(s[:5], s[5]) for s in shots) + block(question, None)


def _write_exam(path: Path, answers: dict[str, list[str]]) -> Path:
    path.mkdir(exist_ok=True)
    for subject, rows in EXAM.items():
        with open(path / f"{subject}_val.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["id", "question", "A", "B", "C", "D", "answer"])
            for i, (row, answer) in enumerate(zip(rows, answers[subject])):
                w.writerow([i, *row, answer])
    return path


def _printed_accuracy(out: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) / 100
            for m in re.finditer(r"^(\w+)\s+([\d.]+)%", out, re.M)}


def test_eval_choice_accuracy_matches_hand_computed(folder, tmp_path, capsys):
    path, hf, tok = folder
    letters = [tok.token_to_id(k) for k in "ABCD"]
    # Zero shots: the prompts do not depend on the answers, so the answers can be chosen
    # to make the expected accuracy 2/3 in one subject and 1/3 in the other.
    predicted = {s: ["ABCD"[int(np.argmax(_logprobs(hf, tok.encode(_prompt(s, q, [])).ids)
                                           [-1][letters]))] for q in rows]
                 for s, rows in EXAM.items()}
    wrong = {"A": "B", "B": "C", "C": "D", "D": "A"}
    answers = {"history": [predicted["history"][0], predicted["history"][1],
                           wrong[predicted["history"][2]]],
               "math": [wrong[p] for p in predicted["math"][:2]] + [predicted["math"][2]]}
    exam = _write_exam(tmp_path / "exam", answers)
    assert main(["eval", "--model", str(path), "--task", "choice", "--data", str(exam),
                 "--device", "numpy"]) == 0
    got = _printed_accuracy(capsys.readouterr().out)
    assert got["history"] == pytest.approx(2 / 3, abs=1e-4)
    assert got["math"] == pytest.approx(1 / 3, abs=1e-4)
    assert got["overall"] == pytest.approx(0.5, abs=1e-4)
    # Two shots taken from the subject's other questions: the oracle scores each prompt.
    expected = {}
    for subject, rows in EXAM.items():
        full = [(*row, a) for row, a in zip(rows, answers[subject])]
        right = 0
        for i, q in enumerate(rows):
            shots = [r for j, r in enumerate(full) if j != i][:2]
            scores = _logprobs(hf, tok.encode(_prompt(subject, q, shots)).ids)[-1][letters]
            right += "ABCD"[int(np.argmax(scores))] == answers[subject][i]
        expected[subject] = right / len(rows)
    assert main(["eval", "--model", str(path), "--task", "choice", "--data", str(exam),
                 "--shots", "2", "--device", "cpu"]) == 0
    got = _printed_accuracy(capsys.readouterr().out)
    for subject, value in expected.items():
        assert got[subject] == pytest.approx(value, abs=1e-4)


def test_eval_ppl_matches_transformers(folder, tmp_path, capsys):
    path, hf, tok = folder
    text_file = tmp_path / "text.txt"
    text_file.write_text(TEXT, encoding="utf-8")
    ids = tok.encode(TEXT).ids
    nats, count = 0.0, 0
    for start in range(0, len(ids) - 1, 40):
        window = ids[start:start + 40]
        if len(window) < 2:
            break
        logp = _logprobs(hf, window)
        nats -= sum(logp[t, window[t + 1]] for t in range(len(window) - 1))
        count += len(window) - 1
    assert main(["eval", "--model", str(path), "--task", "ppl", "--data", str(text_file),
                 "--context", "40", "--device", "numpy"]) == 0
    out = capsys.readouterr().out
    loss = float(re.search(r"loss\s+([\d.]+)", out).group(1))
    assert loss == pytest.approx(nats / count, abs=1e-4)
    ppl = float(re.search(r"perplexity\s+([\d.]+)", out).group(1))
    assert ppl == pytest.approx(math.exp(nats / count), abs=0.01)


def test_generate_streams_greedy_text_of_transformers(folder, capsys, device):
    path, hf, tok = folder
    assert main(["generate", "--model", str(path), "--prompt", PROMPTS[0], "--temperature",
                 "0", "--max-new-tokens", "12", "--device", device]) == 0
    out = capsys.readouterr().out
    ids = tok.encode(PROMPTS[0]).ids
    with torch.no_grad():
        full = hf.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False,
                           eos_token_id=2, pad_token_id=2)[0].tolist()
    new = [t for t in full[len(ids):] if t != 2]
    assert out == f"[{PROMPTS[0]}] {tok.decode(new)}\n"


def test_generate_chat_wraps_the_prompt_in_chatml(folder, capsys):
    path, hf, tok = folder
    assert main(["generate", "--model", str(path), "--prompt", PROMPTS[1], "--chat",
                 "--temperature", "0", "--max-new-tokens", "6", "--device", "numpy"]) == 0
    out = capsys.readouterr().out
    chat = f"<|im_start|>user\n{PROMPTS[1]}<|im_end|>\n<|im_start|>assistant\n"
    ids = tok.encode(chat).ids
    assert ids[0] == tok.token_to_id("<|im_start|>")
    with torch.no_grad():
        full = hf.generate(torch.tensor([ids]), max_new_tokens=6, do_sample=False,
                           eos_token_id=[2, tok.token_to_id("<|im_end|>")],
                           pad_token_id=2)[0].tolist()
    new = []
    for t in full[len(ids):]:
        if t in (2, tok.token_to_id("<|im_end|>")):
            break
        new.append(t)
    assert out == f"[{PROMPTS[1]}] {tok.decode(new)}\n"


def test_cli_errors_name_the_problem(folder, capsys):
    path, _, _ = folder
    assert main(["eval", "--model", str(path), "--task", "choice", "--device", "numpy"]) == 2
    assert "needs --data" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", str(path / "x"), "--prompt", "a", "--chat"]) == 2
    assert "--chat needs --model" in capsys.readouterr().err
