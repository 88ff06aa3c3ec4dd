"""``zili.io``: checkpoints in safetensors (``save``, ``load``, ``load_metadata``) and
DLPack (``from_dlpack``)."""

from zili.io.checkpoint import load, load_metadata, save
from zili.io.dlpack import from_dlpack

__all__ = ["from_dlpack", "load", "load_metadata", "save"]
