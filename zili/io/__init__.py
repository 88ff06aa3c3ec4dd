"""``zili.io``: checkpoints in safetensors (``save``, ``load``, ``load_metadata``)."""

from zili.io.checkpoint import load, load_metadata, save

__all__ = ["load", "load_metadata", "save"]
