"""Text in, text out for loaded models: the chat template and streamed generation.

The chat template is the ChatML layout Qwen-style chat models are trained on
(``<|im_start|>role\\ncontent<|im_end|>\\n`` per message, then ``<|im_start|>assistant\\n``);
zili writes it itself rather than executing the Jinja template a tokenizer_config.json may
carry. Streaming decodes the ids generated so far after every step and yields only the new
text, so a character split over several byte-level tokens appears once it is complete.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from zili.models.generation import decode_steps
from zili.tensor import tensor

IM_START, IM_END = "<|im_start|>", "<|im_end|>"


def chat_prompt(messages: Sequence[dict[str, str]], system: str | None = None) -> str:
    """The ChatML text for ``messages`` ({"role", "content"}), ready for the assistant's
    turn; ``system`` adds a system message first."""
    turns = ([{"role": "system", "content": system}] if system else []) + list(messages)
    text = "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in turns)
    return text + f"{IM_START}assistant\n"


def eos_ids(model: Any, tokenizer: Any, chat: bool = False) -> list[int]:
    """Token ids that end a generation: the config's eos ids, and ``<|im_end|>`` in chat.

    Raises:
        ValueError: ``chat`` with a tokenizer that has no ``<|im_end|>`` token.
    """
    eos = model.config.eos_token_id
    ids = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    if chat:
        end = tokenizer.token_to_id(IM_END)
        if end is None:
            raise ValueError(f"generate --chat: the tokenizer has no {IM_END} token, so this "
                             "is not a ChatML (Qwen-style) chat model; drop --chat")
        ids.append(end)
    return ids


def stream_text(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int = 100,
                temperature: float = 0.8, top_k: int | None = None,
                top_p: float | None = None, chat: bool = False) -> Iterator[str]:
    """Yield the continuation of ``prompt`` piece by piece as tokens are generated (the
    prompt wrapped in the chat template when ``chat``).

    Raises:
        ValueError: an empty prompt, or ``chat`` on a model without ChatML tokens.
    """
    text = chat_prompt([{"role": "user", "content": prompt}]) if chat else prompt
    ids = tokenizer.encode(text).ids
    if not ids:
        raise ValueError("generate: the prompt encodes to no tokens; pass some text")
    stop = eos_ids(model, tokenizer, chat)
    new: list[int] = []
    shown = ""
    device = model.output_weight.device
    prompt_ids = tensor(np.asarray([ids], dtype=np.int64), device=device)
    for step in decode_steps(model, prompt_ids, max_new_tokens, temperature=temperature,
                             top_k=top_k, top_p=top_p, eos_token_id=stop or None):
        token = int(step[0])
        if token in stop:
            return
        new.append(token)
        decoded = tokenizer.decode(new)
        # An incomplete multi-byte character decodes to U+FFFD: wait for its other bytes.
        if decoded.startswith(shown) and not decoded.endswith("\ufffd"):
            yield decoded[len(shown):]
            shown = decoded
