"""``zili.io``: checkpoints in safetensors (``save``, ``load``, ``load_metadata``; every
damaged or malformed file raises :class:`CheckpointError` naming the file) and DLPack
(``from_dlpack``)."""

from zili.io.checkpoint import load, load_metadata, save
from zili.io.dlpack import from_dlpack
from zili.io.safetensors_format import CheckpointError

__all__ = ["CheckpointError", "from_dlpack", "load", "load_metadata", "save"]
