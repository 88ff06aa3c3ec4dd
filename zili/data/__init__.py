"""zili.data: token shard files (``shards``) and the loader that streams them (``loader``).

Only numpy and the standard library are needed here.
"""

__all__ = ["loader", "shards"]
