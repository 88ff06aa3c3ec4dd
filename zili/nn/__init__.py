"""``zili.nn``: modules, layers and functional operations, with PyTorch's names."""

from zili.nn import functional, init, utils
from zili.nn.attention import CausalSelfAttention
from zili.nn.layers import (
    GELU,
    Dropout,
    Embedding,
    Identity,
    LayerNorm,
    Linear,
    LogSoftmax,
    ModuleDict,
    ModuleList,
    ReLU,
    RMSNorm,
    Sequential,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from zili.nn.module import Module, Parameter

__all__ = ["GELU", "CausalSelfAttention", "Dropout", "Embedding", "Identity", "LayerNorm",
           "Linear", "LogSoftmax", "Module", "ModuleDict", "ModuleList", "Parameter", "RMSNorm",
           "ReLU", "SiLU", "Sequential", "Sigmoid", "Softmax", "Tanh", "functional", "init",
           "utils"]
