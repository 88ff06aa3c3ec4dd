"""Models built from ``zili.nn``: the GPT, and the LLaMA/Qwen2 family loaded from Hugging
Face folders (:func:`from_pretrained`)."""

from zili.models.cache import KVCache, StaticKVCache
from zili.models.gpt import GPT, GPTConfig
from zili.models.hub import from_pretrained, load_tokenizer, save_pretrained
from zili.models.llama import LlamaForCausalLM
from zili.models.llama_config import LlamaConfig

__all__ = ["GPT", "GPTConfig", "KVCache", "LlamaConfig", "LlamaForCausalLM", "StaticKVCache",
           "from_pretrained",
           "load_tokenizer", "save_pretrained"]
