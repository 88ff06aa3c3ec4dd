"""zili.text: the Chinese corpus pipeline.

One concept per module: ``readers`` (files -> documents), ``normalize``, ``filters``
(quality rules), ``pii`` (personal data scrubbing), ``dedup`` (exact and MinHash),
``report`` (manifest, report.md, plot), ``tokenizer`` (BPE or characters),
``pipeline`` (the whole build) and ``config`` (thresholds). Import the module you need;
this package imports none of them eagerly, so ``import zili.text`` stays cheap.
"""

__all__ = ["config", "dedup", "filters", "normalize", "pii", "pipeline", "readers",
           "report", "tokenizer"]
