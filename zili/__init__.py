"""zili (自立): a deep-learning framework that owns its whole stack.

``import zili`` gives the PyTorch-familiar surface: ``zili.tensor``, ``zili.Tensor``,
factory functions, dtypes, ``zili.no_grad``, ``zili.save`` / ``zili.load``; ``zili.nn`` and
``zili.optim`` hold layers and optimizers. Layers are in ``docs/architecture.md``.
"""

from zili.devices import available_devices, get_device, set_default_device
from zili.dtype import (
    DType,
    bfloat16,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    uint8,
    uint16,
    uint32,
    uint64,
)
from zili.dtype import bool_ as bool  # noqa: A001, A004 (PyTorch's name: zili.bool)

# After the package zili.jit loads, the function takes the name `zili.jit` (torch.compile's
# place); the tensor layer it needs is loaded below anyway, so this costs nothing extra.
from zili.jit import jit
from zili.tensor import *  # noqa: F403
from zili.tensor import __all__ as _tensor_all
from zili.tensor import special  # torch.special's names
from zili.tensor.autocast import autocast, get_autocast_dtype, is_autocast_enabled

float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16

__version__ = "0.1.0"


def device(name: str) -> object:
    """The device called ``name`` ('numpy', 'cpu', ...), as ``torch.device``."""
    return get_device(name)


def __getattr__(name: str) -> object:
    # nn, optim and io sit above the tensor layer; import them on first use so that
    # `import zili` stays light and the layers keep importing downward only.
    import importlib
    if name in ("nn", "optim", "io", "models", "cli", "text", "data",
                "amp", "train", "distributed", "cuda"):
        return importlib.import_module(f"zili.{name}")
    if name == "onnx":  # zili.onnx.export lives with the models it walks
        return importlib.import_module("zili.models.onnx_export")
    if name in ("save", "load", "from_dlpack", "CheckpointError"):
        return getattr(importlib.import_module("zili.io"), name)
    raise AttributeError(f"module 'zili' has no attribute {name!r}")


__all__ = [*_tensor_all, "DType", "autocast", "available_devices", "bfloat16", "bool", "device",
           "double", "float", "float16", "float32", "float64", "get_autocast_dtype",
           "get_device", "half", "int", "int8", "int16", "int32", "int64", "is_autocast_enabled",
           "jit", "long", "promote_types", "set_default_device", "short", "special", "uint8",
           "uint16", "uint32", "uint64"]
