"""``zili.amp``: automatic mixed precision, as ``torch.amp``.

``autocast`` (also ``zili.autocast``) runs matrix products in float16/bfloat16 and keeps
reductions, softmax, norms and losses in float32; ``GradScaler`` scales the loss so that
float16 gradients do not underflow. The cast policy lives in ``zili.tensor.autocast``
(the tensor layer applies it); this package sits beside ``zili.optim``.
"""

from zili.amp.grad_scaler import GradScaler
from zili.tensor.autocast import autocast, get_autocast_dtype, is_autocast_enabled

__all__ = ["GradScaler", "autocast", "get_autocast_dtype", "is_autocast_enabled"]
