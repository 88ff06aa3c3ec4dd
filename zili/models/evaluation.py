"""Comparing language models: perplexity over text, accuracy on multiple-choice exams.

Perplexity: the text is tokenized with the model's own tokenizer and cut into windows of
``context`` tokens; bits per character divide the total negative log-likelihood by the
number of characters, so models with different tokenizers compare fairly. A ``zili data
build`` folder is read back to text (its validation shards, decoded with the build's
tokenizer) and scored the same way.

Exams use the C-Eval/CMMLU CSV layout: a header with question, A, B, C, D, answer columns
(any letter case; extra columns such as id or explanation are ignored), one file per
subject. Each question becomes a few-shot prompt in C-Eval's style ending in "答案：", and
the model's choice is the answer letter with the highest log-likelihood as the next token.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zili.data.loader import shard_paths
from zili.data.shards import read_shard
from zili.tensor import no_grad, tensor
from zili.text.tokenizer import load_tokenizer as load_build_tokenizer

LETTERS = ("A", "B", "C", "D")


@dataclass
class Question:
    """One exam question: text, the four options and the answer letter."""

    question: str
    options: tuple[str, str, str, str]
    answer: str


@dataclass
class ExamResult:
    """Per-question letter log-likelihoods and predictions, accuracy per subject."""

    subjects: dict[str, list[tuple[Question, np.ndarray, str]]] = field(default_factory=dict)

    def accuracy(self, subject: str | None = None) -> float:
        """Share of questions answered right, in one subject or over all (micro average)."""
        rows = self.subjects[subject] if subject else [r for s in self.subjects.values()
                                                       for r in s]
        return sum(q.answer == pred for q, _, pred in rows) / max(len(rows), 1)


def read_exam(path: str | os.PathLike) -> list[Question]:
    """The questions of one C-Eval/CMMLU CSV file.

    Raises:
        ValueError: naming the file, for missing columns or an answer that is not A-D.
    """
    path = os.fspath(path)
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path}: empty exam file")
    header = [h.strip().lower() for h in rows[0]]
    need = ["question", "a", "b", "c", "d", "answer"]
    missing = [n for n in need if n not in header]
    if missing:
        raise ValueError(f"{path}: exam CSV lacks the column(s) {missing}; the C-Eval/CMMLU "
                         f"layout has question, A, B, C, D, answer (found {rows[0]})")
    col = {n: header.index(n) for n in need}
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        answer = row[col["answer"]].strip().upper()
        if answer not in LETTERS:
            raise ValueError(f"{path}: line {line}: answer {answer!r} is not one of A, B, C, D")
        out.append(Question(row[col["question"]].strip(),
                            tuple(row[col[k]].strip() for k in "abcd"), answer))
    return out


def subject_name(path: str | os.PathLike) -> str:
    """The subject a file holds: its name without C-Eval's _val/_dev/_test suffix."""
    stem = Path(path).stem
    for suffix in ("_val", "_dev", "_test"):
        if stem.endswith(suffix):
            return stem[:-len(suffix)]
    return stem


def exam_files(path: str | os.PathLike) -> list[Path]:
    """One CSV file, or every CSV in a folder (sorted).

    Raises:
        FileNotFoundError: no CSV there.
    """
    p = Path(path)
    files = sorted(p.glob("*.csv")) if p.is_dir() else [p] if p.exists() else []
    if not files:
        raise FileNotFoundError(f"{p}: no exam CSV file(s) there")
    return files


def format_question(q: Question, with_answer: bool) -> str:
    """The question, its options and "答案：" (followed by the letter for a shot)."""
    body = q.question + "\n" + "".join(f"{k}. {o}\n" for k, o in zip(LETTERS, q.options))
    return body + "答案：" + (f"{q.answer}\n\n" if with_answer else "")


def exam_prompt(subject: str, q: Question, shots: list[Question]) -> str:
    """The few-shot prompt for ``q`` (C-Eval's instruction line, then the shots)."""
    head = f"以下是中国关于{subject}考试的单项选择题，请选出其中的正确答案。\n\n"
    return head + "".join(format_question(s, True) for s in shots) + format_question(q, False)


def letter_ids(tokenizer: Any) -> list[int]:
    """The token id of each answer letter (its first token when encoded alone)."""
    return [tokenizer.encode(letter).ids[0] for letter in LETTERS]


@no_grad()
def next_token_logprobs(model: Any, ids: list[int]) -> np.ndarray:
    """log softmax of the logits after ``ids`` (vocab,), in float64."""
    device = model.output_weight.device
    logits = model(tensor(np.asarray([ids], np.int64), device=device))[0, -1]
    row = logits.float().numpy().astype(np.float64)
    return row - (np.log(np.exp(row - row.max()).sum()) + row.max())


def evaluate_choice(model: Any, tokenizer: Any, path: str | os.PathLike, shots: int = 0,
                    dev: str | os.PathLike | None = None) -> ExamResult:
    """Answer every question of the exam file(s) at ``path``; the ``shots`` examples come
    from the matching file in ``dev`` (same subject) or else from the subject's other
    questions.

    Raises:
        ValueError: a malformed exam file; FileNotFoundError: no exam there.
    """
    letters = letter_ids(tokenizer)
    dev_files = {subject_name(f): f for f in exam_files(dev)} if dev else {}
    result = ExamResult()
    for file in exam_files(path):
        subject = subject_name(file)
        questions = read_exam(file)
        pool = read_exam(dev_files[subject]) if subject in dev_files else None
        rows = []
        for i, q in enumerate(questions):
            examples = pool[:shots] if pool is not None else \
                [o for j, o in enumerate(questions) if j != i][:shots]
            ids = tokenizer.encode(exam_prompt(subject, q, examples)).ids
            scores = next_token_logprobs(model, ids)[letters]
            rows.append((q, scores, LETTERS[int(np.argmax(scores))]))
        result.subjects[subject] = rows
    return result


def text_of(path: str | os.PathLike, split: str = "val") -> str:
    """The text to score: a UTF-8 file, or a build folder's ``split`` shards decoded with
    the build's tokenizer.

    Raises:
        FileNotFoundError: nothing readable at ``path``.
    """
    p = Path(path)
    if p.is_dir():
        tokenizer = load_build_tokenizer(p)
        ids = [int(i) for s in shard_paths(p, split) for i in np.asarray(read_shard(s))]
        return tokenizer.decode(ids)
    return p.read_text(encoding="utf-8")


@no_grad()
def perplexity(model: Any, tokenizer: Any, text: str, context: int = 512,
               max_windows: int | None = None) -> dict[str, float]:
    """Loss (nats per token), perplexity and bits per character of ``text``, scored in
    non-overlapping windows of ``context`` tokens (each window's first token is not
    predicted).

    Raises:
        ValueError: text of fewer than two tokens.
    """
    ids = tokenizer.encode(text).ids
    if len(ids) < 2:
        raise ValueError("eval --task ppl: the text has fewer than two tokens")
    device = model.output_weight.device
    nats, tokens, chars = 0.0, 0, 0
    for n, start in enumerate(range(0, len(ids) - 1, context)):
        window = ids[start:start + context]
        if len(window) < 2 or (max_windows is not None and n >= max_windows):
            break
        logits = model(tensor(np.asarray([window], np.int64), device=device))[0]
        logp = logits.float().log_softmax(-1).numpy().astype(np.float64)
        target = np.asarray(window[1:])
        nats -= float(logp[np.arange(len(target)), target].sum())
        tokens += len(target)
        chars += len(tokenizer.decode(window[1:]))
    loss = nats / tokens
    return {"loss": loss, "perplexity": math.exp(loss), "tokens": tokens, "characters": chars,
            "bits_per_character": nats / max(chars, 1) / math.log(2)}
