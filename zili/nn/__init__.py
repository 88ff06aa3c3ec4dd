"""``zili.nn``: modules, layers and functional operations, with PyTorch's names."""

from zili.nn import functional, init, utils
from zili.nn.attention import CausalSelfAttention
from zili.nn.conv_layers import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    Flatten,
    Fold,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool2d,
    Unflatten,
    Unfold,
    Upsample,
)
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
from zili.nn.lora import LoRALinear
from zili.nn.module import Module, Parameter
from zili.nn.norm_layers import BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm

__all__ = ["AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "BatchNorm1d",
           "BatchNorm2d", "BatchNorm3d", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
           "ConvTranspose2d", "ConvTranspose3d", "Flatten", "Fold", "GroupNorm", "MaxPool1d",
           "MaxPool2d", "MaxPool3d", "MaxUnpool2d", "Unflatten", "Unfold", "Upsample",
           "GELU", "CausalSelfAttention", "Dropout", "Embedding", "Identity", "LayerNorm",
           "Linear", "LoRALinear", "LogSoftmax", "Module", "ModuleDict", "ModuleList",
           "Parameter", "RMSNorm",
           "ReLU", "SiLU", "Sequential", "Sigmoid", "Softmax", "Tanh", "functional", "init",
           "utils"]
