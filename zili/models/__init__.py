"""Models built from ``zili.nn``: the GPT language model."""

from zili.models.gpt import GPT, GPTConfig

__all__ = ["GPT", "GPTConfig"]
